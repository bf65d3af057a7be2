// Seeded simulation of several nodes syncing through the real session state machine and frame
// codec, in one thread (DESIGN §2 seams): random writes including same-field conflicts and
// resolutions, connections that open, stall and drop mid-window, partitions that heal, crashes
// that lose uncommitted work, restores from a backup under a new epoch, clocks skewed by up to
// ±10 minutes (sessions hold blocks beyond a 25-minute offset, so none is held). After healing:
//  - every node has the same state hash;
//  - no acknowledged write is lost (every committed op is in every node's vector);
//  - nothing is applied twice (doctor's replay equals the materialized state);
//  - exactly the concurrent overwrites of different values are conflicts (oracle).
// A failing seed is printed; rerun it alone with BOSAI_SEED=<seed>. BOSAI_SIM_SEEDS sets how many
// seeds run (ops/sim runs more), BOSAI_SIM_FIRST_SEED the first (1).
//
// With power cuts (NodesConvergeThroughPowerCuts), the nodes' stores are files on the power-cut
// VFS (tests/common/power_cut.h) and a crash is a node's power going at a random write, sync or
// truncation of its files during what comes next: a local write, a session's commit of a peer's
// blocks, a resolution, a checkpoint. The node comes back with its files as a disk may hold them;
// its store must open whole (doctor passes), hold everything it held before the step the power
// went in and every write it acknowledged, and then converge as above. BOSAI_POWER_SEED runs one
// seed alone; BOSAI_POWER_SIM_SEEDS sets how many run.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <tuple>

#include "bosai/sync/v1/sync.pb.h"
#include "storage/store.h"
#include "sync/frame.h"
#include "sync/held.h"
#include "sync/session.h"
#include "tests/common/fresh_dir.h"
#include "tests/common/merge_oracle.h"
#include "tests/common/power_cut.h"

namespace bosai::sim {
namespace {

constexpr int64_t kStart = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

std::string StringField(uint32_t field, const std::string& v) {
  std::string out;
  out.push_back(char((field << 3) | 2));
  out.push_back(char(v.size()));
  return out + v;
}

// "Sometimes" counters (Antithesis style): proof that the dangerous situations were reached.
struct Reached {
  uint64_t conflicts_at_end = 0;
  uint64_t resolutions = 0;
  uint64_t drops_with_frames_in_flight = 0;
  uint64_t crashes = 0;
  uint64_t blocks_relayed = 0;
  uint64_t restores = 0;
  uint64_t restores_losing_unreplicated_ops = 0;
  uint64_t power_cuts = 0;
  uint64_t power_cuts_in_sessions = 0;   // while a session applied a peer's blocks
  uint64_t power_cuts_keeping_step = 0;  // the step's commit was on the disk before the cut
};
Reached reached;

struct SimNode {
  std::string node_id;
  ManualClock clock{kStart};
  int64_t skew = 0;
  int64_t epoch = 1;
  SigningKey key;
  uint32_t block_ops = 1;
  std::unique_ptr<Store> store;
  std::string backup;  // path of the last backup, if any
};

// Two nodes may be 20 min apart (±10 min each): the maximum offset is set above that.
constexpr int64_t kMaxOffsetMs = 25 * 60 * 1000;

struct Connection {
  int a, b;
  std::unique_ptr<sync::Session> sa, sb;
  std::deque<std::string> to_a, to_b;  // encoded frames in flight, in order (TCP)
  sync::FrameDecoder da, db;
};

class Simulation {
 public:
  // With POWER, the stores are files whose power it cuts.
  explicit Simulation(uint64_t seed, testing::PowerCut* power = nullptr)
      : rng_(seed), seed_(seed), power_(power) {}
  ~Simulation() {
    for (auto& node : nodes_) {
      node.store.reset();
      for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(node.backup + ext);
      for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(Live(node) + ext);
    }
  }

  void Run() {
    const int n = 5;
    nodes_.resize(n);  // stores keep pointers to their node's clock: no reallocation after this
    for (int i = 0; i < n; ++i) {
      SimNode& node = nodes_[i];
      node.node_id = "042021-n" + std::to_string(i);
      node.skew = int64_t(Pick(1'200'001)) - 600'000;  // ±10 min
      node.block_ops = 1 + uint32_t(Pick(6));
      // From the seed (not drawn from rng_): a random key would sign other bytes each run, and
      // the sessions' frames would differ (their compressed sizes), and with them the run.
      std::string key_seed(32, char('a' + i));
      for (int b = 0; b < 8; ++b) key_seed[size_t(b)] = char(seed_ >> (8 * b));
      node.key = *SigningKey::FromSeed(key_seed);
      keys_[Incarnation(node.node_id, 1)] = node.key.public_key();
      OpenStore(node, power_ ? Live(node) : ":memory:");
      if (::testing::Test::HasFatalFailure()) return;
    }
    for (auto& node : nodes_) node.clock.Set(kStart + node.skew);

    for (int step = 0; step < 150; ++step) {
      if (armed_ >= 0) {  // what the node whose power will go holds before this step
        auto held = nodes_[armed_].store->Vector();
        ASSERT_TRUE(held.ok());
        before_step_ = *held;
      }
      now_ += int64_t(Pick(2000));
      for (auto& node : nodes_) node.clock.Set(kStart + now_ + node.skew);
      int r = int(Pick(100));
      if (r < 30) {
        Write(int(Pick(nodes_.size())));
      } else if (r < 65) {
        DeliverOne();
      } else if (r < 75) {
        const int a = int(Pick(nodes_.size()));  // (drawn first: see Pick)
        Connect(a, int(Pick(nodes_.size())));
      } else if (r < 82) {
        if (!conns_.empty()) Drop(Pick(conns_.size()));
      } else if (r < 87) {
        Repartition();
      } else if (r < 88) {
        Crash(int(Pick(nodes_.size())));
      } else if (r < 90) {
        Backup(int(Pick(nodes_.size())));
      } else if (r < 92) {
        Restore(int(Pick(nodes_.size())));
      } else if (r < 96) {
        Resolve(int(Pick(nodes_.size())));
      } else {
        PollAll();
      }
      if (::testing::Test::HasFatalFailure()) return;
      if (power_ && power_->off()) Reboot(armed_);
      if (::testing::Test::HasFatalFailure()) return;
    }
    if (power_) {
      power_->NoCut();
      armed_ = -1;
    }
    Heal();
    if (::testing::Test::HasFatalFailure()) return;
    Check();
  }

 private:
  // Each draw is a statement of its own, never two among a call's arguments, whose order the
  // compilers choose: a seed runs the same whatever built it.
  uint64_t Pick(uint64_t n) { return rng_() % n; }

  // Opens NODE's store at PATH under its current epoch. With power cuts it checkpoints often,
  // so that the power goes during some.
  void OpenStore(SimNode& node, const std::string& path) {
    Store::Options o;
    o.clock = &node.clock;
    o.block_ops = node.block_ops;
    auto s = Store::Open(path, o);
    ASSERT_TRUE(s.ok()) << node.node_id << " does not open: " << s.status().message();
    node.store = std::move(s).value();
    ASSERT_TRUE(node.store->SetIdentity({node.node_id, node.epoch, node.key}).ok());
    if (power_) {
      ASSERT_TRUE(node.store->db().Exec("PRAGMA wal_autocheckpoint=8").ok());
    }
  }

  static bool Holds(const VersionVector& vv, const StreamId& id, uint64_t seq) {
    auto it = vv.find(id);
    return it != vv.end() && it->second >= seq;
  }

  // Whether the power of node I is off: its writes fail until it comes back (Reboot).
  bool PowerOff(int i) const { return power_ && i == armed_ && power_->off(); }
  // Whether ST, of node I, is a success; a failure is a test failure unless I's power is off.
  bool Fine(const Status& st, int i) {
    if (st.ok()) return true;
    if (!PowerOff(i)) ADD_FAILURE() << nodes_[i].node_id << ": " << st.message();
    return false;
  }

  KeyLookup Keys() {
    return [this](const std::string& inc) -> std::optional<std::string> {
      auto it = keys_.find(inc);
      return it == keys_.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  }

  void Write(int i) {
    Store& s = *nodes_[i].store;
    auto before = s.Vector();
    ASSERT_TRUE(before.ok());
    if (!Fine(s.BeginWrite("sim"), i)) return;
    int ops = 1 + int(Pick(3));
    static const char* kValues[] = {"a", "b", "c", ""};
    for (int k = 0; k < ops; ++k) {
      std::string key = "042021:" + std::to_string(Pick(3));
      uint32_t field = 1 + uint32_t(Pick(3));
      std::string v = kValues[Pick(4)];
      if (!Fine(s.Put("042021", 1, key, {{field, v.empty() ? "" : StringField(field, v)}}), i)) {
        return;
      }
    }
    if (!Fine(s.CommitWrite(), i)) return;
    auto after = s.Vector();
    for (const auto& [id, seq] : *after) {
      uint64_t was = before->count(id) ? before->at(id) : 0;
      for (uint64_t q = was + 1; q <= seq; ++q) acknowledged_.push_back({id, q});
    }
  }

  // An officer settles the conflicts a node sees.
  void Resolve(int i) {
    Store& s = *nodes_[i].store;
    auto conflicts = s.ListConflicts();
    ASSERT_TRUE(conflicts.ok());
    if (conflicts->empty()) return;
    const Conflict& c = (*conflicts)[Pick(conflicts->size())];
    if (!Fine(s.BeginWrite("officer"), i)) return;
    if (!Fine(s.Put(c.other.scope, c.entity, c.key,
                    {{c.field, Pick(2) ? c.shown.value : c.other.value}}, v1::OP_SOURCE_USER,
                    {{c.field, c.other.dot}}),
              i)) {
      return;
    }
    if (!Fine(s.CommitWrite(), i)) return;
    ++reached.resolutions;
  }

  bool Partitioned(int a, int b) const { return side_[a] != side_[b]; }

  void Connect(int a, int b) {
    if (a == b || Partitioned(a, b)) return;
    for (auto& c : conns_) {
      if ((c.a == a && c.b == b) || (c.a == b && c.b == a)) return;
    }
    Connection c{a, b, nullptr, nullptr, {}, {}, {}, {}};
    sync::Session::Options o;
    o.window = 1 + uint32_t(Pick(4));
    o.keys = Keys();
    o.max_offset_ms = kMaxOffsetMs;
    o.clock = &nodes_[a].clock;
    c.sa = std::make_unique<sync::Session>(*nodes_[a].store, o);
    o.clock = &nodes_[b].clock;
    c.sb = std::make_unique<sync::Session>(*nodes_[b].store, o);
    auto ha = c.sa->Start();
    auto hb = c.sb->Start();
    if (!Fine(ha.status(), a) || !Fine(hb.status(), b)) return;
    for (auto& f : *ha) c.to_b.push_back(f);
    for (auto& f : *hb) c.to_a.push_back(f);
    conns_.push_back(std::move(c));
  }

  void Drop(size_t k) {
    if (!conns_[k].to_a.empty() || !conns_[k].to_b.empty()) ++reached.drops_with_frames_in_flight;
    conns_.erase(conns_.begin() + long(k));
  }

  // Delivers the next frames (one to four) of one direction of one connection, split into
  // random reads; the frames that a read completes are handled together, as the daemon does
  // with the frames that arrive while its store thread is busy (their Blocks share a commit).
  bool Deliver(Connection& c, bool to_a) {
    auto& q = to_a ? c.to_a : c.to_b;
    if (q.empty()) return false;
    std::string bytes;
    for (size_t k = 1 + Pick(std::min<size_t>(q.size(), 4)); k > 0; --k) {
      bytes += q.front();
      q.pop_front();
    }
    sync::FrameDecoder& d = to_a ? c.da : c.db;
    sync::Session& s = to_a ? *c.sa : *c.sb;
    const int node = to_a ? c.a : c.b;
    auto& back = to_a ? c.to_b : c.to_a;
    size_t at = 0;
    while (at < bytes.size()) {
      size_t n = 1 + Pick(bytes.size() - at);
      EXPECT_TRUE(d.Feed(std::string_view(bytes).substr(at, n)).ok());
      at += n;
      std::vector<sync::Frame> frames;
      while (true) {
        auto f = d.Next();
        EXPECT_TRUE(f.ok()) << f.status().message();
        if (!f.ok() || !f->has_value()) break;
        frames.push_back(std::move(**f));
      }
      if (frames.empty()) continue;
      auto out = s.OnFrames(frames);
      if (!out.ok()) {
        if (PowerOff(node)) ++reached.power_cuts_in_sessions;
        Fine(out.status(), node);
        return false;
      }
      for (auto& x : *out) back.push_back(std::move(x));
    }
    return true;
  }

  void DeliverOne() {
    if (conns_.empty()) return;
    Connection& c = conns_[Pick(conns_.size())];
    Deliver(c, Pick(2) == 0);
  }

  void PollAll() {
    for (auto& c : conns_) {
      auto pa = c.sa->Poll();
      auto pb = c.sb->Poll();
      if (!Fine(pa.status(), c.a) || !Fine(pb.status(), c.b)) return;
      for (auto& f : *pa) c.to_b.push_back(f);
      for (auto& f : *pb) c.to_a.push_back(f);
    }
  }

  void Repartition() {
    if (Pick(3) == 0) {
      std::fill(side_.begin(), side_.end(), 0);  // heal
      return;
    }
    for (auto& s : side_) s = int(Pick(2));
    std::vector<Connection> kept;
    for (auto& c : conns_) {
      if (!Partitioned(c.a, c.b)) kept.push_back(std::move(c));
    }
    conns_ = std::move(kept);
  }

  // A crash: connections vanish with their frames, and a write in progress is lost. With power
  // cuts, the power of node I goes at one of the next writes, syncs or truncations of its files
  // (Reboot follows).
  void Crash(int i) {
    if (power_) {
      armed_ = i;
      power_->OnlyFiles(Live(nodes_[i]));
      power_->CutAt(1 + Pick(40));
      auto held = nodes_[i].store->Vector();
      ASSERT_TRUE(held.ok());
      before_step_ = *held;
      return;
    }
    Store& s = *nodes_[i].store;
    ASSERT_TRUE(s.BeginWrite("doomed").ok());
    ASSERT_TRUE(s.Put("042021", 1, "042021:9", {{1, StringField(1, "lost")}}).ok());
    s.AbortWrite();
    ++reached.crashes;
    Disconnect(i);
  }

  std::string Path(const SimNode& node, const char* what) const {
    return (std::filesystem::temp_directory_path() /
            fmt::format("bosai-sim-{}-{}-{}-{}.db", getpid(), seed_, node.node_id, what))
        .string();
  }
  std::string Live(const SimNode& node) const { return Path(node, "live"); }

  // Node I's connections vanish with their frames.
  void Disconnect(int i) {
    std::vector<Connection> kept;
    for (auto& c : conns_) {
      if (c.a != i && c.b != i) kept.push_back(std::move(c));
    }
    conns_ = std::move(kept);
  }

  // The power of node I went: connections vanish with their frames, and the node comes back with
  // its files as its disk held them. Its store must open whole and hold what it held before the
  // step the power went in (all committed) and every write it acknowledged; the step's own
  // commit may be there or not.
  void Reboot(int i) {
    SimNode& node = nodes_[i];
    Disconnect(i);
    node.store.reset();
    power_->Recover();
    armed_ = -1;
    ++reached.power_cuts;
    OpenStore(node, Live(node));
    if (::testing::Test::HasFatalFailure()) return;
    auto held = node.store->Vector();
    ASSERT_TRUE(held.ok()) << held.status().message();
    for (const auto& [id, seq] : before_step_) {
      ASSERT_TRUE(Holds(*held, id, seq))
          << node.node_id << " lost " << id.incarnation << " " << seq << " in a power cut";
    }
    const std::string own = Incarnation(node.node_id, node.epoch);
    for (const auto& [id, seq] : acknowledged_) {
      ASSERT_TRUE(id.incarnation != own || Holds(*held, id, seq))
          << node.node_id << " lost its acknowledged write " << seq << " in a power cut";
    }
    if (*held != before_step_) ++reached.power_cuts_keeping_step;
    const auto scratch = testing::FreshDir("bosai-sim-doctor-");
    auto report = node.store->Doctor((scratch / "replay.db").string());
    std::filesystem::remove_all(scratch);
    ASSERT_TRUE(report.ok()) << report.status().message();
    ASSERT_TRUE(report->ok()) << node.node_id << " after its power cut: " << report->problems[0];
  }

  // A backup of a node's database, as `bosai backup` takes it (SQLite's online backup).
  void Backup(int i) {
    SimNode& node = nodes_[i];
    node.backup = Path(node, "backup");
    std::filesystem::remove(node.backup);
    Status st = node.store->db().BackupTo(node.backup, nullptr);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  // The node's disk is lost, or its store put back: it comes back from its last backup under a
  // new epoch. Ops it held
  // that are not in the backup survive only where they were replicated; those that no node
  // holds any more are lost with the disk (and no longer counted as acknowledged). They may be
  // another node's: ops replicated only to this node from a node whose own disk was lost
  // before.
  void Restore(int i) {
    SimNode& node = nodes_[i];
    if (node.backup.empty()) return;
    auto highest = [&](bool others) {  // per stream: the highest seq the others (or i) hold
      VersionVector out;
      for (int j = 0; j < int(nodes_.size()); ++j) {
        if ((j != i) != others) continue;
        auto vv = nodes_[j].store->Vector();
        EXPECT_TRUE(vv.ok());
        for (const auto& [id, seq] : *vv) out[id] = std::max(out[id], seq);
      }
      return out;
    };
    const VersionVector others = highest(true), lost_disk = highest(false);
    if (power_ && armed_ == i) {  // a new disk, with the power on (closing the store writes)
      power_->NoCut();
      armed_ = -1;
    }
    Disconnect(i);
    node.store.reset();
    std::string live = Live(node);
    if (Pick(2) == 0) {  // on a new disk
      for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(live + ext);
      std::filesystem::copy_file(node.backup, live);
      if (power_) power_->Forget(live);
    } else {  // into the store, as `bosai restore` puts it back
      auto db = Db::Open(live);
      ASSERT_TRUE(db.ok()) << db.status().message();
      Status st = (*db)->ReplaceWith(node.backup);
      ASSERT_TRUE(st.ok()) << st.message();
    }
    node.block_ops = 1 + uint32_t(Pick(6));
    ++node.epoch;
    keys_[Incarnation(node.node_id, node.epoch)] = node.key.public_key();
    OpenStore(node, live);
    if (::testing::Test::HasFatalFailure()) return;
    ++reached.restores;

    // Lost: what only this node held, and not its backup. (An op that no node held even
    // before stays counted: the check then reports it.)
    const VersionVector restored = highest(false);
    size_t before = acknowledged_.size();
    std::erase_if(acknowledged_, [&](const std::pair<StreamId, uint64_t>& a) {
      return Holds(lost_disk, a.first, a.second) && !Holds(others, a.first, a.second) &&
             !Holds(restored, a.first, a.second);
    });
    if (acknowledged_.size() < before) ++reached.restores_losing_unreplicated_ops;
  }

  // No more faults: full-mesh sessions until every node holds the same vector.
  void Heal() {
    std::fill(side_.begin(), side_.end(), 0);
    conns_.clear();
    for (int round = 0; round < 4; ++round) {
      for (int a = 0; a < int(nodes_.size()); ++a) {
        for (int b = a + 1; b < int(nodes_.size()); ++b) {
          Connect(a, b);
          Connection& c = conns_.back();
          int guard = 0;
          while (!(c.sa->caught_up() && c.sb->caught_up() && c.to_a.empty() && c.to_b.empty())) {
            bool moved_a = Deliver(c, true);  // both directions each round
            bool moved_b = Deliver(c, false);
            bool moved = moved_a || moved_b;
            ASSERT_TRUE(moved) << "session stalled between " << a << " and " << b;
            ASSERT_LT(++guard, 100000);
          }
          conns_.clear();
        }
      }
    }
  }

  void Check() {
    std::string hash0 = *nodes_[0].store->StateHash();
    auto vv0 = *nodes_[0].store->Vector();
    for (auto& node : nodes_) {
      ASSERT_EQ(*node.store->StateHash(), hash0) << node.node_id << " diverged";
      auto vv = *node.store->Vector();
      for (const auto& [id, seq] : acknowledged_) {
        ASSERT_TRUE(vv.count(id) && vv.at(id) >= seq)
            << node.node_id << " lost acknowledged op " << id.incarnation << " " << seq;
      }
    }
    // Nothing applied twice: a replay of node 0's op-log gives its materialized state.
    const auto scratch = testing::FreshDir("bosai-sim-doctor-");
    auto report = nodes_[0].store->Doctor((scratch / "replay.db").string());
    std::filesystem::remove_all(scratch);
    ASSERT_TRUE(report.ok());
    ASSERT_TRUE(report->ok()) << report->problems[0];
    // Exactly the concurrent overwrites of different values are conflicts.
    std::vector<std::string> blocks;
    ASSERT_TRUE(nodes_[0]
                    .store
                    ->ReadBlocks({}, nullptr,
                                 [&](std::string_view b) {
                                   blocks.emplace_back(b);
                                   return Status::Ok();
                                 })
                    .ok());
    testing::ConflictSet actual;
    auto conflicts = nodes_[0].store->ListConflicts();
    ASSERT_TRUE(conflicts.ok());
    for (const auto& c : *conflicts) {
      actual.insert({c.key, c.field, c.other.dot.incarnation, c.other.dot.seq});
    }
    ASSERT_EQ(actual, testing::OracleConflicts(blocks));
    reached.conflicts_at_end += actual.size();
    for (const auto& b : blocks) {
      auto h = ParseBlockHeader(b);
      if (h.ok() && h->origin != nodes_[0].store->identity()->incarnation())
        ++reached.blocks_relayed;
    }
  }

  std::mt19937_64 rng_;
  uint64_t seed_;
  testing::PowerCut* power_;
  int armed_ = -1;             // the node whose power goes at the cut PowerCut is set for
  VersionVector before_step_;  // what it held before the step under way
  int64_t now_ = 0;
  std::vector<SimNode> nodes_;
  std::map<std::string, std::string> keys_;
  std::vector<Connection> conns_;
  std::vector<int> side_ = std::vector<int>(5, 0);
  std::vector<std::pair<StreamId, uint64_t>> acknowledged_;
};

TEST(Simulation, NodesConvergeUnderFaults) {
  if (const char* s = std::getenv("BOSAI_SEED")) {
    Simulation(std::strtoull(s, nullptr, 10)).Run();
    return;
  }
  const char* env = std::getenv("BOSAI_SIM_SEEDS");
  const int seeds = env ? std::atoi(env) : 500;
  const char* from = std::getenv("BOSAI_SIM_FIRST_SEED");
  const int first = from ? std::atoi(from) : 1;
  for (int seed = first; seed < first + seeds; ++seed) {
    Simulation(uint64_t(seed)).Run();
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "failing seed: BOSAI_SEED=" << seed;
      return;
    }
  }
  std::cout << "reached: " << reached.conflicts_at_end << " conflicts at the end, "
            << reached.resolutions << " resolutions, " << reached.drops_with_frames_in_flight
            << " drops with frames in flight, " << reached.crashes << " crashes, "
            << reached.blocks_relayed << " blocks received from other nodes, " << reached.restores
            << " restores from backup (" << reached.restores_losing_unreplicated_ops
            << " losing unreplicated ops)\n";
  if (seeds >= 50) {
    EXPECT_GT(reached.conflicts_at_end, 0u);
    EXPECT_GT(reached.resolutions, 0u);
    EXPECT_GT(reached.drops_with_frames_in_flight, 0u);
    EXPECT_GT(reached.crashes, 0u);
    EXPECT_GT(reached.blocks_relayed, 0u);
    EXPECT_GT(reached.restores, 0u);
  }
}

TEST(Simulation, NodesConvergeThroughPowerCuts) {
  auto run = [](uint64_t seed) {
    testing::PowerCut power(seed, /*real_syncs=*/false);
    Simulation(seed, &power).Run();
  };
  if (const char* s = std::getenv("BOSAI_POWER_SEED")) return run(std::strtoull(s, nullptr, 10));
  const char* env = std::getenv("BOSAI_POWER_SIM_SEEDS");
  const int seeds = env ? std::atoi(env) : 100;
  const char* from = std::getenv("BOSAI_SIM_FIRST_SEED");
  const int first = from ? std::atoi(from) : 1;
  const Reached before = reached;
  for (int seed = first; seed < first + seeds; ++seed) {
    run(uint64_t(seed));
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "failing seed: BOSAI_POWER_SEED=" << seed;
      return;
    }
  }
  const uint64_t cuts = reached.power_cuts - before.power_cuts;
  const uint64_t in_sessions = reached.power_cuts_in_sessions - before.power_cuts_in_sessions;
  const uint64_t kept = reached.power_cuts_keeping_step - before.power_cuts_keeping_step;
  std::cout << "reached: " << cuts << " power cuts (" << in_sessions
            << " while a session applied a peer's blocks, " << kept
            << " after the step's commit was on the disk)\n";
  if (seeds >= 50) {
    EXPECT_GT(cuts, 0u);
    EXPECT_GT(in_sessions, 0u);
    EXPECT_GT(kept, 0u);
  }
}

// A node whose clock runs 2 h ahead: its blocks are held (not applied, reported) by a node with
// the default maximum offset, until that node's clock catches up; then they apply and both agree.
TEST(Simulation, BlocksFromANodeTwoHoursAheadAreHeld) {
  ManualClock slow(kStart), fast(kStart + 2 * 3600 * 1000);
  auto open = [](Clock* clock, const std::string& id) {
    Store::Options o;
    o.clock = clock;
    auto s = Store::Open(":memory:", o);
    EXPECT_TRUE(s.ok());
    SigningKey key = SigningKey::Generate();
    EXPECT_TRUE((*s)->SetIdentity({id, 1, key}).ok());
    return std::move(s).value();
  };
  auto a = open(&slow, "042021-a");
  auto b = open(&fast, "042021-b");
  ASSERT_TRUE(b->BeginWrite("t").ok());
  ASSERT_TRUE(b->Put("042021", 1, "042021:1", {{1, StringField(1, "ahead")}}).ok());
  ASSERT_TRUE(b->CommitWrite().ok());
  std::map<std::string, std::string> keys{{"042021-a#1", a->identity()->key.public_key()},
                                          {"042021-b#1", b->identity()->key.public_key()}};
  sync::Session::Options o;
  o.keys = [&](const std::string& inc) -> std::optional<std::string> { return keys.at(inc); };
  o.max_offset_ms = sync::kDefaultMaxOffsetMs;
  o.clock = &slow;
  sync::Session sa(*a, o);
  o.clock = &fast;
  sync::Session sb(*b, o);
  std::deque<std::string> to_a, to_b;
  auto hello_a = sa.Start();
  auto hello_b = sb.Start();
  ASSERT_TRUE(hello_a.ok() && hello_b.ok());
  for (auto& f : *hello_a) to_b.push_back(f);
  for (auto& f : *hello_b) to_a.push_back(f);
  sync::FrameDecoder da, db;
  for (int guard = 0; (!to_a.empty() || !to_b.empty()) && guard < 100; ++guard) {
    for (auto [q, d, s, back] : {std::tuple{&to_a, &da, &sa, &to_b}, {&to_b, &db, &sb, &to_a}}) {
      if (q->empty()) continue;
      ASSERT_TRUE(d->Feed(q->front()).ok());
      q->pop_front();
      auto f = d->Next();
      ASSERT_TRUE(f.ok() && f->has_value());
      auto out = s->OnFrame(**f);
      ASSERT_TRUE(out.ok()) << out.status().message();
      for (auto& x : *out) back->push_back(x);
    }
  }
  EXPECT_TRUE(sa.caught_up() && sb.caught_up());
  EXPECT_EQ(sa.blocks_held(), 1u);
  EXPECT_EQ(a->Vector()->count({"042021-b#1", "042021"}), 0u) << "a held block was applied";
  auto held = sync::ListHeld(*a, slow.NowMillis());
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ((*held)[0].incarnation, "042021-b#1");
  EXPECT_GT((*held)[0].ahead_ms, 7000 * 1000);
  // Not yet: still 2 h ahead.
  EXPECT_EQ(*sync::ReleaseHeld(*a, o.keys, nullptr, slow.NowMillis(), o.max_offset_ms), 0u);
  slow.Set(fast.NowMillis());
  EXPECT_EQ(*sync::ReleaseHeld(*a, o.keys, nullptr, slow.NowMillis(), o.max_offset_ms), 1u);
  EXPECT_EQ(*a->StateHash(), *b->StateHash());
  EXPECT_TRUE(sync::ListHeld(*a, slow.NowMillis())->empty());
}

// Blocks frames handled together share one commit; a bad one among them applies nothing of
// itself or what follows, and the frames before it are applied and committed all the same.
TEST(Simulation, FramesHandledTogetherApplyUpToABadOne) {
  ManualClock clock(kStart);
  auto open = [&](const std::string& id) {
    Store::Options o;
    o.clock = &clock;
    o.block_ops = 1;
    auto s = Store::Open(":memory:", o);
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE((*s)->SetIdentity({id, 1, SigningKey::Generate()}).ok());
    return std::move(s).value();
  };
  auto a = open("042021-a");
  auto b = open("042021-b");
  for (int i = 1; i <= 3; ++i) {  // three blocks of one op, sent in three frames
    ASSERT_TRUE(b->BeginWrite("t").ok());
    ASSERT_TRUE(b->Put("042021", 1, fmt::format("042021:{}", i), {{1, StringField(1, "x")}}).ok());
    ASSERT_TRUE(b->CommitWrite().ok());
  }
  std::map<std::string, std::string> keys{{"042021-a#1", a->identity()->key.public_key()},
                                          {"042021-b#1", b->identity()->key.public_key()}};
  sync::Session::Options o;
  o.keys = [&](const std::string& inc) -> std::optional<std::string> { return keys.at(inc); };
  o.clock = &clock;
  auto frames_for_a = [&](bool tamper) {
    sync::Session sa(*a, o), sb(*b, o);
    auto hello_a = sa.Start();
    auto hello_b = sb.Start();
    EXPECT_TRUE(hello_a.ok() && hello_b.ok());
    std::vector<std::string> bytes = *hello_b;
    sync::FrameDecoder d;
    EXPECT_TRUE(d.Feed((*hello_a)[0]).ok());
    auto out = sb.OnFrame(**d.Next());
    EXPECT_TRUE(out.ok());
    for (auto& f : *out) bytes.push_back(f);
    std::vector<sync::Frame> frames;
    for (const std::string& f : bytes) {
      sync::FrameDecoder one;
      EXPECT_TRUE(one.Feed(f).ok());
      frames.push_back(**one.Next());
    }
    // Hello, then a Blocks frame for each block a lacks: three, then (after the first run
    // applied one) two.
    EXPECT_EQ(frames.size(), tamper ? 4u : 3u);
    if (tamper) {
      sync::v1::Blocks msg;
      EXPECT_TRUE(msg.ParseFromString(frames[2].body));
      std::string& block = *msg.mutable_blocks(0);
      block.back() = char(block.back() ^ 1);  // the signature's last byte
      frames[2].body = msg.SerializeAsString();
    }
    auto handled = sa.OnFrames(frames);
    size_t acks = 0;
    for (const std::string& f : handled.ok() ? *handled : std::vector<std::string>()) {
      sync::FrameDecoder one;
      EXPECT_TRUE(one.Feed(f).ok());
      acks += (**one.Next()).type == sync::FrameType::kAck;
    }
    return std::make_pair(handled.status(), acks);
  };
  auto [bad, none] = frames_for_a(true);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("Blocks frame from 042021-b#1"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("signature"), std::string::npos) << bad.message();
  EXPECT_EQ(a->Vector()->at({"042021-b#1", "042021"}), 1u) << "the frame before it is applied";
  auto [good, acks] = frames_for_a(false);
  EXPECT_TRUE(good.ok()) << good.message();
  EXPECT_EQ(a->Vector()->at({"042021-b#1", "042021"}), 3u);
  EXPECT_EQ(acks, 2u);  // one for each Blocks frame
}

}  // namespace
}  // namespace bosai::sim
