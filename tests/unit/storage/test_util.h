// Helpers for storage tests: in-memory stores with their own identities, and full exchange of
// blocks between stores (what sync does, minus the network).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "storage/store.h"
#include "tests/common/fresh_dir.h"

namespace bosai::testing {

// Index values of a test record, one of each kind: field 2 (text), field 8 (ref), the number of
// fields (num) and the body's size (lookup).
inline IndexColumns TestIndexer(uint32_t, std::string_view body) {
  IndexColumns ix;
  auto fields = SplitFields(body);
  if (!fields.ok()) return ix;
  if (auto it = fields->find(2); it != fields->end()) ix.text = it->second;
  if (auto it = fields->find(8); it != fields->end()) ix.ref = it->second;
  ix.num = int64_t(fields->size());
  ix.lookup = int64_t(body.size());
  return ix;
}

// Options of a test store: its clock and the test indexer.
inline Store::Options TestOptions(Clock* clock) {
  Store::Options o;
  o.clock = clock;
  o.indexer = TestIndexer;
  return o;
}

inline std::unique_ptr<Store> NewStore(const std::string& node_id, Clock* clock,
                                       uint32_t block_ops = kMaxBlockOps, int64_t epoch = 1) {
  Store::Options o;
  o.clock = clock;
  o.block_ops = block_ops;
  o.indexer = TestIndexer;
  auto s = Store::Open(":memory:", o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  auto store = std::move(s).value();
  Status st = store->SetIdentity({node_id, epoch, SigningKey::Generate()});
  EXPECT_TRUE(st.ok()) << st.message();
  return store;
}

// Public keys as a trust store would give them.
inline KeyLookup KeysOf(std::vector<Store*> stores) {
  return [stores](const std::string& inc) -> std::optional<std::string> {
    for (Store* s : stores) {
      if (s->identity() && s->identity()->incarnation() == inc)
        return s->identity()->key.public_key();
    }
    return std::nullopt;
  };
}

// Sends `from` every block `to` lacks.
inline void Pull(Store& to, Store& from, const KeyLookup& keys) {
  auto vv = to.Vector();
  ASSERT_TRUE(vv.ok());
  std::vector<std::string> blocks;
  ASSERT_TRUE(from.ReadBlocks(*vv, nullptr,
                              [&](std::string_view b) {
                                blocks.emplace_back(b);
                                return Status::Ok();
                              })
                  .ok());
  for (const auto& b : blocks) {
    Status st = to.ApplyBlock(b, keys);
    ASSERT_TRUE(st.ok()) << st.message();
  }
}

// Every block a store holds, in stream order.
inline std::vector<std::string> AllBlocks(Store& s) {
  std::vector<std::string> out;
  EXPECT_TRUE(s.ReadBlocks({}, nullptr, [&](std::string_view b) {
                 out.emplace_back(b);
                 return Status::Ok();
               }).ok());
  return out;
}

inline std::string Hash(Store& s) {
  auto h = s.StateHash();
  EXPECT_TRUE(h.ok()) << h.status().message();
  return h.ok() ? *h : std::string();
}

// What `bosai doctor` finds wrong with S, replaying into a scratch store in DIR: none when it
// passes.
inline std::vector<std::string> DoctorProblems(Store& s, const std::filesystem::path& dir) {
  auto report = s.Doctor((dir / "scratch.db").string());
  if (!report.ok()) return {"doctor failed: " + report.status().message()};
  return report->problems;
}

// A field fragment: string field `field` holding `value` (protobuf wire type 2).
inline void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(v | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}
inline std::string StringField(uint32_t field, const std::string& value) {
  std::string out;
  PutVarint(out, (uint64_t(field) << 3) | 2);
  PutVarint(out, value.size());
  out += value;
  return out;
}
// The string inside a fragment made by StringField.
inline std::string StringValue(const std::string& fragment) {
  size_t i = 0;
  while (i < fragment.size() && (uint8_t(fragment[i]) & 0x80)) ++i;  // tag
  ++i;
  while (i < fragment.size() && (uint8_t(fragment[i]) & 0x80)) ++i;  // length
  ++i;
  return i <= fragment.size() ? fragment.substr(i) : std::string();
}

}  // namespace bosai::testing
