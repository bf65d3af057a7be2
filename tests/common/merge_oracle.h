// The merge rule of DESIGN §4 computed from signed blocks alone, independently of the store:
// a field's live writes are those no write names; the newest by (hlc, incarnation) is shown;
// the others with a different value are the conflicts. Used by property tests and the simulator.
#pragma once

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "storage/block.h"
#include "storage/fields.h"

namespace bosai::testing {

// (key, field, incarnation, seq) of each losing write.
using ConflictSet = std::set<std::tuple<std::string, uint32_t, std::string, uint64_t>>;

struct OracleWrite {
  std::string inc;
  uint64_t seq;
  uint64_t hlc;
  std::string value;
  std::set<std::pair<std::string, uint64_t>> context;
};
using FieldKey = std::tuple<std::string, uint32_t>;  // key, field

// Conflicts an independent reading of the op-log predicts: live writes are those no write names;
// the newest by (hlc, incarnation) is shown; the others with a different value are conflicts.
inline ConflictSet OracleConflicts(const std::vector<std::string>& blocks) {
  std::map<FieldKey, std::vector<OracleWrite>> writes;
  for (const auto& b : blocks) {
    auto h = ParseBlockHeader(b);
    auto batch = DecodeBlockPayload(b);
    for (int i = 0; i < batch->ops_size(); ++i) {
      const auto& op = batch->ops(i);
      FieldMap set = SplitFields(op.set()).value();
      for (const auto& [field, value] : set) {
        writes[{op.key(), field}].push_back({h->origin, h->first_seq + i, op.hlc(), value, {}});
      }
      for (const auto& w : op.writes()) {
        OracleWrite x{h->origin, h->first_seq + i, op.hlc(), w.value(), {}};
        for (int j = 0; j < w.context_peer_size(); ++j) {
          x.context.insert({batch->peers(w.context_peer(j)), w.context_seq(j)});
        }
        writes[{op.key(), w.field()}].push_back(x);
      }
    }
  }
  ConflictSet out;
  for (auto& [fk, ws] : writes) {
    // Deduplicate (the same block may be read from several nodes).
    std::map<std::pair<std::string, uint64_t>, OracleWrite> unique;
    for (auto& w : ws) unique.emplace(std::make_pair(w.inc, w.seq), w);
    std::set<std::pair<std::string, uint64_t>> named;
    for (auto& [d, w] : unique) named.insert(w.context.begin(), w.context.end());
    std::vector<const OracleWrite*> live;
    for (auto& [d, w] : unique) {
      if (!named.count(d)) live.push_back(&w);
    }
    const OracleWrite* shown = nullptr;
    for (const OracleWrite* w : live) {
      if (!shown ||
          std::tie(w->hlc, w->inc, w->seq) > std::tie(shown->hlc, shown->inc, shown->seq)) {
        shown = w;
      }
    }
    for (const OracleWrite* w : live) {
      if (w != shown && w->value != shown->value) {
        out.insert({std::get<0>(fk), std::get<1>(fk), w->inc, w->seq});
      }
    }
  }
  return out;
}

}  // namespace bosai::testing
