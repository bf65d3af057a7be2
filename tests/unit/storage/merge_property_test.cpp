// Merge laws as property tests. Random histories from 3–5 incarnations that write the same few
// fields and exchange blocks at random (so causal contexts are real), then:
//  - every order of delivery, with duplicates, gives the same state hash;
//  - the conflict records are exactly the concurrent overwrites of different values, checked
//    against an oracle computed from the ops alone;
//  - resolving every conflict on one node removes them everywhere.
// A failing seed is printed; rerun it with --gtest_filter and BOSAI_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "storage/fields.h"
#include "storage/store.h"
#include "test_util.h"
#include "tests/common/merge_oracle.h"

namespace bosai {
namespace {

using testing::AllBlocks;
using testing::Hash;
using testing::KeysOf;
using testing::NewStore;
using testing::OracleConflicts;
using testing::Pull;
using testing::StringField;

void RunSeed(uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return int(rng() % uint64_t(n)); };
  ManualClock clock(1'700'000'000'000);
  const int n = 3 + pick(3);
  std::vector<std::unique_ptr<Store>> nodes;
  std::vector<Store*> raw;
  for (int i = 0; i < n; ++i) {
    nodes.push_back(NewStore("042021-n" + std::to_string(i), &clock, 1 + pick(4)));
    raw.push_back(nodes.back().get());
  }
  auto keys = KeysOf(raw);
  const char* values[] = {"a", "b", "c", ""};  // "" clears the field

  for (int step = 0; step < 60; ++step) {
    // Clocks that tie, advance or run backwards (the HLC keeps each node monotonic).
    clock.Advance(int64_t(pick(3)) - 1);
    Store& s = *nodes[pick(n)];
    if (pick(4) == 0) {
      Pull(s, *nodes[pick(n)], keys);
      continue;
    }
    ASSERT_TRUE(s.BeginWrite("prop").ok());
    int ops = 1 + pick(3);
    for (int k = 0; k < ops; ++k) {
      std::string key = "042021:" + std::to_string(pick(2));
      uint32_t field = 1 + pick(2);
      std::string v = values[pick(4)];
      Status put = s.Put("042021", 1, key, {{field, v.empty() ? "" : StringField(field, v)}});
      ASSERT_TRUE(put.ok()) << put.message();
    }
    ASSERT_TRUE(s.CommitWrite().ok());
  }

  // Every block of every stream, then deliveries in random interleavings with duplicates.
  std::map<StreamId, std::vector<std::string>> streams;
  std::vector<std::string> everything;
  for (auto& node : nodes) {
    for (auto& b : AllBlocks(*node)) {
      auto h = ParseBlockHeader(b);
      if (node->identity()->incarnation() == h->origin) streams[{h->origin, h->scope}].push_back(b);
      everything.push_back(b);
    }
  }
  std::string expected;
  for (int round = 0; round < 3; ++round) {
    auto obs = NewStore("042021-observer" + std::to_string(round), &clock);
    // The last observer takes the bulk path of a first sync: the same state, built at the end.
    const bool bootstrap = round == 2;
    if (bootstrap) {
      auto begun = obs->BeginBootstrap();
      ASSERT_TRUE(begun.ok() && *begun);
    }
    std::map<StreamId, size_t> next;
    std::vector<StreamId> ids;
    for (auto& [id, bs] : streams) ids.push_back(id);
    size_t remaining = 0;
    for (auto& [id, bs] : streams) remaining += bs.size();
    while (remaining > 0) {
      const StreamId& id = ids[pick(int(ids.size()))];
      size_t& i = next[id];
      if (i >= streams[id].size()) continue;
      ASSERT_TRUE(obs->ApplyBlock(streams[id][i], keys).ok());
      if (pick(3) == 0) {
        ASSERT_TRUE(obs->ApplyBlock(streams[id][i], keys).ok());  // duplicate
      }
      if (i > 0 && pick(5) == 0) {
        ASSERT_TRUE(obs->ApplyBlock(streams[id][i - 1], keys).ok());
      }
      ++i;
      --remaining;
    }
    if (bootstrap) {
      ASSERT_TRUE(obs->EndBootstrap().ok());
    }
    std::string h = Hash(*obs);
    if (round == 0) expected = h;
    ASSERT_EQ(h, expected) << (bootstrap ? "a bootstrap built another state"
                                         : "delivery order changed the state");
    if (round == 0) {
      auto oracle = OracleConflicts(everything);
      auto got = obs->ListConflicts();
      ASSERT_TRUE(got.ok());
      std::set<std::tuple<std::string, uint32_t, std::string, uint64_t>> actual;
      for (auto& c : *got)
        actual.insert({c.key, c.field, c.other.dot.incarnation, c.other.dot.seq});
      ASSERT_EQ(actual, oracle);
    }
  }

  // Full mesh sync: every node converges to the observers' state.
  for (int pass = 0; pass < 2; ++pass) {
    for (auto& x : nodes) {
      for (auto& y : nodes) {
        if (x != y) Pull(*x, *y, keys);
      }
    }
  }
  for (auto& node : nodes) ASSERT_EQ(Hash(*node), expected);

  // Resolve every conflict on node 0 (keeping either side at random), then sync: none remain.
  Store& officer = *nodes[0];
  auto conflicts = officer.ListConflicts();
  ASSERT_TRUE(conflicts.ok());
  ASSERT_TRUE(officer.BeginWrite("officer").ok());
  std::set<std::tuple<std::string, uint32_t>> done;
  for (auto& c : *conflicts) {
    // One resolving write per field names every conflicting dot of that field.
    if (!done.insert({c.key, c.field}).second) continue;
    std::vector<std::pair<uint32_t, Dot>> dots;
    for (auto& d : *conflicts) {
      if (d.key == c.key && d.field == c.field) dots.push_back({d.field, d.other.dot});
    }
    const std::string& keep = pick(2) ? c.shown.value : c.other.value;
    ASSERT_TRUE(
        officer.Put(c.shown.scope, c.entity, c.key, {{c.field, keep}}, v1::OP_SOURCE_USER, dots)
            .ok());
  }
  ASSERT_TRUE(officer.CommitWrite().ok());
  for (auto& node : nodes) {
    if (node.get() != &officer) Pull(*node, officer, keys);
  }
  for (auto& node : nodes) {
    auto left = node->ListConflicts();
    ASSERT_TRUE(left.ok());
    ASSERT_TRUE(left->empty()) << left->size() << " conflicts left";
    ASSERT_EQ(Hash(*node), Hash(officer));
  }
}

TEST(MergeProperty, RandomHistoriesConverge) {
  if (const char* s = std::getenv("BOSAI_SEED")) {
    RunSeed(std::strtoull(s, nullptr, 10));
    return;
  }
  const int seeds = std::getenv("BOSAI_SEEDS") ? std::atoi(std::getenv("BOSAI_SEEDS")) : 40;
  for (int seed = 1; seed <= seeds; ++seed) {
    RunSeed(uint64_t(seed));
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "failing seed: BOSAI_SEED=" << seed;
      return;
    }
  }
}

}  // namespace
}  // namespace bosai
