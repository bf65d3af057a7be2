// Power cuts (reference: reliability, "T3 power cut"; DESIGN §4 Durability). A store on disk is
// written by every path that acknowledges a write: a first sync's bootstrap (its blocks, then
// the records built) or a first import (its bulk path), both through a rollback journal, a
// peer's blocks applied one by one or several in one commit (a sync session's group commit),
// local writes committed, log checkpoints (explicit, and SQLite's own every few pages), backups
// taken while the store is in use, and a backup put back into the store under a new epoch, as
// `bosai backup` and `bosai restore` do (node/backup.h: the store before the restore, or the
// backup whole, never a mixture). The power goes at a random write, sync or truncation of its files
// (tests/common/power_cut.h: what was not synced is then kept, lost or garbled). When the power
// comes back:
//  - the store opens and doctor passes (integrity, op-log gaps and signatures, materialized state
//    equal to a replay);
//  - it holds exactly what was acknowledged before the cut, or that and the step under way,
//    whole: its version vector is one of those two of the same steps run without a cut;
//  - its state is that of a fresh store given the blocks it holds;
//  - it takes a new write, whose sequence number follows the last one it holds.
// BOSAI_POWER_CUTS sets how many seeds run (ops/power-cut runs more), BOSAI_POWER_CUT_FIRST_SEED
// the first (1). A failing seed is named; rerun it alone with BOSAI_POWER_CUT_FIRST_SEED=<seed>
// BOSAI_POWER_CUTS=1.
#include "tests/common/power_cut.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "storage/store.h"
#include "tests/unit/storage/test_util.h"

namespace bosai {
namespace {

using testing::AllBlocks;
using testing::DoctorProblems;
using testing::Hash;
using testing::StringField;

constexpr int64_t kStart = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

SigningKey KeyFor(uint64_t seed, char who) {
  std::string bytes(32, who);
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char(seed >> (8 * i));
  return *SigningKey::FromSeed(bytes);
}

// What a seed does to the store, the same in the run without a cut and in the run with one.
struct Plan {
  struct Step {
    enum class Kind { kWrite, kPeerBlock, kCheckpoint, kBackup, kRestore } kind = Kind::kWrite;
    std::vector<std::tuple<std::string, uint32_t, std::string>> puts;  // key, field, value
    // A peer's next blocks: one in a transaction of its own, or several in one (a sync
    // session's group commit, acknowledged after it).
    size_t blocks = 1;
  };
  Identity identity;
  // The store's life begins with a first sync from a peer, a first import, or neither.
  std::vector<std::string> bootstrap;                       // the peer's blocks
  std::vector<std::pair<std::string, std::string>> import;  // key, fields (as in a body)
  std::vector<std::string> peer;                            // another peer's, applied one a step
  std::vector<Step> steps;
  std::map<std::string, std::string> public_keys;
  KeyLookup keys() const {
    return [k = public_keys](const std::string& inc) -> std::optional<std::string> {
      auto it = k.find(inc);
      return it == k.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  }
};

std::string Text(std::mt19937_64& rng, size_t n) {
  std::string s(n, ' ');
  for (char& c : s) c = char('!' + rng() % 90);
  return s;
}

// Each draw from a generator is a statement of its own, in the order that gcc, which evaluates a
// call's arguments from the last, took them: a seed gives the same plan whatever the compiler
// (clang takes them from the first), and seeds run before still give the plans they gave.

// A value: mostly short, sometimes long enough to fill several pages.
std::string Value(std::mt19937_64& rng) {
  return rng() % 8 == 0 ? Text(rng, 3000 + rng() % 40000) : Text(rng, 4 + rng() % 40);
}

std::string KeyOf(uint64_t i) { return "042021:" + std::to_string(i); }

Plan MakePlan(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Plan plan;
  plan.identity = {"042021-honcho", 1, KeyFor(seed, 'h')};
  ManualClock clock(kStart - 3'600'000);
  auto peer_store = [&](const std::string& node_id, char who, uint32_t block_ops) {
    Store::Options o = testing::TestOptions(&clock);
    o.block_ops = block_ops;
    auto s = std::move(*Store::Open(":memory:", o));
    Identity id{node_id, 1, KeyFor(seed, who)};
    plan.public_keys[id.incarnation()] = id.key.public_key();
    EXPECT_TRUE(s->SetIdentity(std::move(id)).ok());
    return s;
  };
  auto write = [&](Store& s, int puts, uint64_t keys) {
    ASSERT_TRUE(s.BeginWrite("peer").ok());
    for (int i = 0; i < puts; ++i) {
      uint32_t field = 1 + uint32_t(rng() % 4);
      const std::string value = Value(rng);
      const std::string key = KeyOf(rng() % keys);
      ASSERT_TRUE(s.Put("042021", 1, key, {{field, StringField(field, value)}}).ok());
    }
    ASSERT_TRUE(s.CommitWrite().ok());
    clock.Advance(1000);
  };
  // Its incarnations: one more after each restore (at most one a step).
  for (int64_t epoch = 1; epoch <= 32; ++epoch) {
    plan.public_keys[Incarnation(plan.identity.node_id, epoch)] = plan.identity.key.public_key();
  }
  if (const uint64_t begin = rng() % 3; begin == 0) {
    auto first = peer_store("042021-shisho", 'b', 8);
    for (int i = 0; i < 10; ++i) write(*first, 6, 60);
    plan.bootstrap = AllBlocks(*first);
  } else if (begin == 1) {
    for (uint64_t i = 0; i < 150; ++i) {
      const std::string third = Value(rng), second = Value(rng), first = Value(rng);
      plan.import.emplace_back(
          KeyOf(i), StringField(1, first) + StringField(2, second) + StringField(3, third));
    }
  }
  auto other = peer_store("042021-shelter", 'p', 3);
  for (int i = 0; i < 12; ++i) write(*other, 1 + int(rng() % 4), 40);
  plan.peer = AllBlocks(*other);
  for (int i = 0; i < 30; ++i) {
    Plan::Step step;
    const uint64_t r = rng() % 20;
    step.kind = r < 12   ? Plan::Step::Kind::kWrite
                : r < 17 ? Plan::Step::Kind::kPeerBlock
                : r < 18 ? Plan::Step::Kind::kCheckpoint
                : r < 19 ? Plan::Step::Kind::kBackup
                         : Plan::Step::Kind::kRestore;
    if (step.kind == Plan::Step::Kind::kWrite) {
      for (int n = 1 + int(rng() % 6); n > 0; --n) {
        std::string value = Value(rng);
        const uint32_t field = 1 + uint32_t(rng() % 4);
        step.puts.emplace_back(KeyOf(rng() % 40), field, std::move(value));
      }
    }
    if (step.kind == Plan::Step::Kind::kPeerBlock) step.blocks = 1 + rng() % 3;
    plan.steps.push_back(std::move(step));
  }
  return plan;
}

bool Holds(const VersionVector& vv, const StreamId& stream, uint64_t seq) {
  auto it = vv.find(stream);
  return it != vv.end() && it->second >= seq;
}

// Runs PLAN on a store at PATH until a step fails (the power is off): VECTORS gets the store's
// vector after each step acknowledged (the first: once it is open), STEPS what each was, PHASE
// the part of a step under way where it matters (a restore's putting the backup back). True when
// every step was acknowledged.
bool RunPlan(const Plan& plan, const std::string& path, std::vector<VersionVector>* vectors,
             std::vector<std::string>* steps, std::string* phase) {
  ManualClock clock(kStart);
  std::unique_ptr<Store> s;
  Identity identity = plan.identity;
  auto open = [&] {
    auto opened = Store::Open(path, testing::TestOptions(&clock));
    if (!opened.ok()) return false;
    s = std::move(opened).value();
    // SQLite checkpoints its log every few pages, as well as when asked.
    return s->SetIdentity(identity).ok() && s->db().Exec("PRAGMA wal_autocheckpoint=8").ok();
  };
  if (!open()) return false;
  auto acknowledged = [&](std::string what) {
    auto v = s->Vector();
    EXPECT_TRUE(v.ok());
    vectors->push_back(v.ok() ? *v : VersionVector{});
    steps->push_back(std::move(what));
  };
  acknowledged("open");
  const KeyLookup keys = plan.keys();
  if (!plan.bootstrap.empty()) {
    auto begun = s->BeginBootstrap();
    if (!begun.ok()) return false;
    EXPECT_TRUE(*begun);
    for (const std::string& block : plan.bootstrap) {
      if (!s->ApplyBlock(block, keys).ok()) return false;
      acknowledged("a first sync's block");
    }
    if (!s->EndBootstrap().ok()) return false;
    acknowledged("the end of a first sync");
  }
  // One write transaction: WRITE's writes, committed; false (nothing kept) when any fails.
  auto transaction = [&](const char* author, const auto& write) {
    if (!s->BeginWrite(author).ok()) return false;
    if (write() && s->CommitWrite().ok()) return true;
    if (s->writing()) s->AbortWrite();
    return false;
  };
  if (!plan.import.empty()) {  // as `resident import` does it, through a rollback journal
    // (False on an error, such as the power going: without a cut, a failed step.)
    if (!s->UseRollbackJournal()) return false;
    const bool imported = transaction("import", [&] {
      bool written = s->BeginBulk().ok();
      for (const auto& [key, fields] : plan.import) {
        written = written && s->PutNew(1, key, {{"042021", fields}}, v1::OP_SOURCE_REGISTER).ok();
      }
      return written && s->EndBulk().ok();
    });
    if (!imported) return false;
    acknowledged("a first import");
    if (!s->RestoreWal().ok()) return false;
    acknowledged("the return to the log after a first import");
  }
  size_t next_peer = 0;
  std::string backup;  // the last backup taken
  int backups = 0;
  for (const Plan::Step& step : plan.steps) {
    clock.Advance(1000);
    switch (step.kind) {
      case Plan::Step::Kind::kWrite: {
        const bool written = transaction("clerk", [&] {
          for (const auto& [key, field, value] : step.puts) {
            if (!s->Put("042021", 1, key, {{field, StringField(field, value)}}).ok()) return false;
          }
          return true;
        });
        if (!written) return false;
        acknowledged("a local write");
        break;
      }
      case Plan::Step::Kind::kPeerBlock: {
        if (next_peer == plan.peer.size()) continue;
        if (step.blocks == 1) {
          if (!s->ApplyBlock(plan.peer[next_peer++], keys).ok()) return false;
          acknowledged("a peer's block");
          break;
        }
        const bool applied = transaction("sync", [&] {
          for (size_t n = 0; n < step.blocks && next_peer < plan.peer.size(); ++n) {
            if (!s->ApplyBlock(plan.peer[next_peer++], keys).ok()) return false;
          }
          return true;
        });
        if (!applied) return false;
        acknowledged("a peer's blocks, committed together");
        break;
      }
      case Plan::Step::Kind::kCheckpoint:
        if (!s->db().Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok()) return false;
        acknowledged("a checkpoint");
        break;
      case Plan::Step::Kind::kBackup: {
        const std::string out = fmt::format("{}.backup-{}", path, ++backups);
        if (!s->db().BackupTo(out, nullptr).ok()) return false;
        backup = out;
        acknowledged("a backup");
        break;
      }
      case Plan::Step::Kind::kRestore: {
        if (backup.empty()) continue;
        // As RestoreNode: the backup's copy takes the new epoch, then goes into the store in
        // one transaction, with the store closed; the node opens again as the new incarnation.
        const std::string work = path + ".restore";
        std::error_code ec;
        std::filesystem::remove(work, ec);
        if (!std::filesystem::copy_file(backup, work, ec)) return false;
        ++identity.epoch;
        {
          auto copy = Store::Open(work, testing::TestOptions(&clock));
          if (!copy.ok() || !(*copy)->db().Begin().ok() ||
              !(*copy)->SetMeta("epoch", std::to_string(identity.epoch)).ok() ||
              !(*copy)->db().Commit().ok()) {
            return false;
          }
        }
        s.reset();
        {
          *phase = "putting the backup into the store";
          auto live = Db::Open(path);
          if (!live.ok() || !(*live)->ReplaceWith(work).ok()) return false;
          phase->clear();
        }
        if (!open()) return false;
        // The peer's blocks since the backup come again, as a sync would send them.
        auto held = s->Vector();
        if (!held.ok()) return false;
        next_peer = 0;
        while (next_peer < plan.peer.size()) {
          auto h = ParseBlockHeader(plan.peer[next_peer]);
          if (!h.ok() || !Holds(*held, {h->origin, h->scope}, h->last_seq())) break;
          ++next_peer;
        }
        acknowledged("a restore from a backup");
        break;
      }
    }
  }
  return true;
}

std::string Describe(const VersionVector& v) {
  std::string out;
  for (const auto& [stream, seq] : v) {
    out += fmt::format("{}/{}:{} ", stream.incarnation, stream.scope, seq);
  }
  return out.empty() ? "(empty)" : out;
}

TEST(PowerCut, NoAcknowledgedWriteIsLostAndTheStoreOpensWhole) {
  const uint64_t first = EnvNumber("BOSAI_POWER_CUT_FIRST_SEED", 1);
  const uint64_t seeds = EnvNumber("BOSAI_POWER_CUTS", 300);
  // That the seeds reach them:
  uint64_t landed = 0, in_bootstrap = 0, in_import = 0, in_group = 0, in_backup = 0, in_restore = 0,
           putting_back = 0, restored = 0, step_kept = 0, step_lost = 0, before_open = 0;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    SCOPED_TRACE(
        fmt::format("seed {} (BOSAI_POWER_CUT_FIRST_SEED={} BOSAI_POWER_CUTS=1)", seed, seed));
    const auto dir = testing::FreshDir("bosai-power-cut-");
    const Plan plan = MakePlan(seed);
    if (::testing::Test::HasFatalFailure()) return;

    std::vector<VersionVector> whole;
    std::vector<std::string> whole_steps;
    uint64_t calls = 0, syncs = 0;
    bool done = false;
    {
      testing::PowerCut power(seed);
      std::string phase;
      done = RunPlan(plan, (dir / "whole.db").string(), &whole, &whole_steps, &phase);
      calls = power.calls();
      syncs = power.syncs();
    }
    ASSERT_TRUE(done) << "the run without a cut failed a step";

    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
    const std::string path = (dir / "cut.db").string();
    std::vector<VersionVector> acked;
    std::vector<std::string> acked_steps;
    testing::PowerCut power(seed);
    // At any write, sync or truncation; at one of the first quarter (the store's beginning: its
    // creation, a first sync or import); or at a sync, where a commit becomes durable.
    if (const uint64_t where = rng() % 3; where < 2) {
      power.CutAt(1 + rng() % (where == 0 ? calls : calls / 4 + 1));
    } else {
      power.CutAtSync(1 + rng() % syncs);
    }
    std::string phase;
    RunPlan(plan, path, &acked, &acked_steps, &phase);
    if (!power.off()) {
      ADD_FAILURE() << "the power did not go: the run with a cut made fewer writes than " << calls;
      continue;
    }
    ++landed;
    power.Recover();

    // What was acknowledged is what the run without a cut had acknowledged at that step.
    const size_t k = acked.size();  // steps acknowledged; the one under way is whole[k]
    ASSERT_LE(k, whole.size());
    for (size_t i = 0; i < k; ++i) ASSERT_EQ(acked[i], whole[i]) << "step " << i << " differs";
    if (k == 0) ++before_open;
    const std::string under_way = k < whole_steps.size() ? whole_steps[k] : "the store's closing";
    if (under_way.find("first sync") != std::string::npos) ++in_bootstrap;
    if (under_way.find("first import") != std::string::npos) ++in_import;
    if (under_way.find("committed together") != std::string::npos) ++in_group;
    if (under_way == "a backup") ++in_backup;
    const bool restoring = under_way == "a restore from a backup";
    in_restore += restoring;
    putting_back += !phase.empty();

    ManualClock clock(kStart + 3'600'000);
    auto reopened = Store::Open(path, testing::TestOptions(&clock));
    ASSERT_TRUE(reopened.ok()) << "the store does not open after a power cut during " << under_way
                               << ": " << reopened.status().message();
    Store& s = **reopened;
    // The incarnation a restore made, if one did (the store keeps its epoch).
    auto epoch = s.GetMetaNumber("epoch");
    ASSERT_TRUE(epoch.ok()) << epoch.status().message();
    Identity identity = plan.identity;
    identity.epoch = int64_t(epoch->value_or(1));
    ASSERT_TRUE(s.SetIdentity(identity).ok());
    auto v = s.Vector();
    ASSERT_TRUE(v.ok());
    const VersionVector acknowledged = k == 0 ? VersionVector{} : whole[k - 1];
    const bool step_writes = k < whole.size() && whole[k] != acknowledged;
    if (*v == acknowledged) {
      step_lost += step_writes;
    } else if (step_writes && *v == whole[k]) {
      ++step_kept;
      restored += restoring;
    } else {
      FAIL() << "after a power cut during " << under_way << " the store holds " << Describe(*v)
             << "; acknowledged: " << Describe(acknowledged)
             << (k < whole.size() ? "; with the step under way: " + Describe(whole[k]) : "");
    }
    ASSERT_EQ(DoctorProblems(s, dir), std::vector<std::string>{})
        << "after a power cut during " << under_way;

    // Its state is that of the blocks it holds, given to a fresh store.
    {
      ManualClock ref_clock(kStart);
      auto ref = std::move(*Store::Open(":memory:", testing::TestOptions(&ref_clock)));
      for (const std::string& block : AllBlocks(s)) {
        ASSERT_TRUE(ref->ApplyBlock(block, plan.keys()).ok());
      }
      ASSERT_EQ(Hash(*ref), Hash(s)) << "after a power cut during " << under_way;
    }

    // And it takes a new write, numbered after the last one it holds.
    const StreamId local{identity.incarnation(), "042021"};
    const uint64_t held = v->count(local) ? v->at(local) : 0;
    ASSERT_TRUE(s.BeginWrite("clerk").ok());
    ASSERT_TRUE(s.Put("042021", 1, KeyOf(1), {{1, StringField(1, "after the power cut")}}).ok());
    ASSERT_TRUE(s.CommitWrite().ok());
    auto after = s.Vector();
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->at(local), held + 1);
    ASSERT_EQ(DoctorProblems(s, dir), std::vector<std::string>{});
    reopened->reset();
    std::filesystem::remove_all(dir);
  }
  std::cout << fmt::format(
      "power cuts: {} seeds from {}: {} cuts, {} before the store was open, {} during a first "
      "sync, {} during a first import, {} during a group commit of a peer's blocks, {} during a "
      "backup, {} during a restore ({} while the backup went into the store; {} found the backup "
      "put back whole); a step under way that writes kept {} and lost {} times\n",
      seeds, first, landed, before_open, in_bootstrap, in_import, in_group, in_backup, in_restore,
      putting_back, restored, step_kept, step_lost);
  if (seeds >= 300) {  // (fewer may reach some of them by chance only)
    EXPECT_GT(in_bootstrap, 0u);
    EXPECT_GT(in_import, 0u);
    EXPECT_GT(in_group, 0u);
    EXPECT_GT(in_backup, 0u);
    EXPECT_GT(in_restore, 0u);
    EXPECT_GT(putting_back, 0u);
    EXPECT_GT(restored, 0u);
    EXPECT_GT(step_kept, 0u);
    EXPECT_GT(step_lost, 0u);
  }
}

}  // namespace
}  // namespace bosai
