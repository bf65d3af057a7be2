// Record store: local writes, remote blocks (idempotence, gaps, forgery), field merge and
// conflicts, unknown fields, events, register base, state hash and doctor.
#include "storage/store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <numeric>
#include <random>
#include <thread>

#include "test_util.h"
#include "tests/common/full_disk.h"
#include "tests/protobuf_clock.h"

namespace bosai {
namespace {

using testing::Hash;
using testing::KeysOf;
using testing::NewStore;
using testing::Pull;
using testing::StringField;

constexpr uint32_t kEntity = 1;

void PutString(Store& s, const std::string& key, uint32_t field, const std::string& value,
               v1::OpSource source = v1::OP_SOURCE_USER) {
  ASSERT_TRUE(s.BeginWrite("test").ok());
  Status st = s.Put("042021", kEntity, key,
                    {{field, value.empty() ? "" : StringField(field, value)}}, source);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(s.CommitWrite().ok());
}

std::string Field(Store& s, const std::string& key, uint32_t field) {
  auto body = s.GetBody(kEntity, key);
  EXPECT_TRUE(body.ok());
  if (!*body) return "<none>";
  auto fields = SplitFields(**body);
  auto it = fields->find(field);
  return it == fields->end() ? "" : testing::StringValue(it->second);
}

TEST(Store, WritesAreMaterializedAndLogged) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  PutString(*a, "042021:1", 2, "佐藤");
  PutString(*a, "042021:1", 3, "サトウ");
  EXPECT_EQ(Field(*a, "042021:1", 2), "佐藤");
  EXPECT_EQ(Field(*a, "042021:1", 3), "サトウ");
  auto vv = a->Vector();
  ASSERT_TRUE(vv.ok());
  EXPECT_EQ((*vv)[(StreamId{"042021-honcho#1", "042021"})], 2u);
  EXPECT_EQ(*a->CountRecords(kEntity), 1u);
}

// Records read in the order they were written are read by row id near the last one read (a
// re-import of a register in its order); whatever the order, a read gives the record asked for:
// not one of another entity with the same key beside it, nor one after it when the key is not held.
TEST(Store, ARecordReadIsTheOneAskedForInAnyOrder) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  constexpr uint32_t kOther = 2;
  constexpr int kRecords = 300;
  ASSERT_TRUE(a->BeginWrite("test").ok());
  for (int i = 0; i < kRecords; ++i) {
    const std::string key = fmt::format("042021:{:05}", i);
    for (uint32_t entity : {kEntity, kOther}) {  // of every third key, only kOther's
      if (entity == kEntity && i % 3 == 2) continue;
      ASSERT_TRUE(
          a->Put("042021", entity, key, {{2, StringField(2, fmt::format("{}/{}", entity, key))}})
              .ok());
    }
  }
  ASSERT_TRUE(a->CommitWrite().ok());
  auto expect = [&](uint32_t entity, int i) {
    const std::string key = fmt::format("042021:{:05}", i);
    auto state = a->GetRecord(entity, key);
    ASSERT_TRUE(state.ok()) << state.status().message();
    if (entity == kEntity && i % 3 == 2) {
      EXPECT_FALSE(state->has_value()) << key << " is not held";
      return;
    }
    ASSERT_TRUE(state->has_value()) << key;
    EXPECT_EQ(testing::StringValue((*state)->body.at(2)), fmt::format("{}/{}", entity, key));
  };
  std::vector<int> order(kRecords);
  std::iota(order.begin(), order.end(), 0);
  for (int pass = 0; pass < 3; ++pass) {  // in order, backwards, shuffled
    if (pass == 1) std::reverse(order.begin(), order.end());
    if (pass == 2) std::shuffle(order.begin(), order.end(), std::mt19937(7));
    for (uint32_t entity : {kEntity, kOther}) {
      for (int i : order) {
        expect(entity, i);
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
  // In order, each entity's reads interleaved with the other's.
  for (int i = 0; i < kRecords && !::testing::Test::HasFailure(); ++i) {
    expect(kEntity, i);
    expect(kOther, i);
  }
}

// The state hash reads the records a chunk at a time in row-id order, and hashes them in key
// order: the hash of the rows its definition reads (DumpState, in SQL), whatever the order the
// records were written in, wherever the chunks end and however many of their bodies it holds.
TEST(Store, TheStateHashIsTheHashOfTheRowsItsDefinitionReads) {
  ManualClock clock(1'000'000);
  for (auto [chunk, bytes] : std::vector<std::pair<uint64_t, uint64_t>>{
           {1, 1 << 20}, {7, 1 << 20}, {64, 1 << 20}, {1000, 1 << 20}, {64, 300}, {1000, 0}}) {
    Store::Options o = testing::TestOptions(&clock);
    o.hash_chunk_records = chunk;
    o.hash_chunk_bytes = bytes;  // the bodies beyond are read one by one
    auto opened = Store::Open(":memory:", o);
    ASSERT_TRUE(opened.ok());
    Store& a = **opened;
    ASSERT_TRUE(a.SetIdentity({"042021-honcho", 1, SigningKey::Generate()}).ok());
    std::mt19937 rng(11);
    ASSERT_TRUE(a.BeginWrite("test").ok());
    for (int i = 0; i < 200; ++i) {  // keys in no order, two entities
      const std::string key = fmt::format("042021:{:05}", rng() % 100000);
      ASSERT_TRUE(a.Put("042021", 1 + rng() % 2, key, {{2, StringField(2, key + "住所")}}).ok());
    }
    ASSERT_TRUE(a.CommitWrite().ok());
    // Its sections' labels, each before its rows: none before the records, and no conflict
    // records or events here.
    Sha256 h;
    h.Update("bosai-state-v1");
    size_t records = 0;
    ASSERT_TRUE(a.DumpState([&](const Store::StateRow& row) {
                   EXPECT_EQ(row.section, "record");
                   // entity, key, body: a number, a text and bytes in hex
                   h.UpdateInt(std::stoull(row.columns[0]));
                   h.UpdateField(row.columns[1]);
                   h.UpdateField(FromHex(row.columns[2]).value());
                   ++records;
                   return Status::Ok();
                 }).ok());
    EXPECT_GT(records, 150u);
    h.Update("siblings");
    h.Update("events");
    EXPECT_EQ(*a.StateHash(), ToHex(h.Final())) << "chunks of " << chunk << ", " << bytes;
  }
}

// A wall clock set back: writes go on, stamped above the latest stamp, and the store says how far
// behind the clock is (what Node::ClockWarning warns about). A block from a clock ahead counts.
TEST(Store, AClockSetBackKeepsWritingAndItsLagIsKnown) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  PutString(*a, "042021:1", 2, "佐藤");
  const uint64_t first = a->high_water();
  EXPECT_EQ(a->ClockLagMillis(), 0);
  clock.Set(900'000);
  EXPECT_EQ(a->ClockLagMillis(), 100'000);
  PutString(*a, "042021:1", 2, "佐藤花子");
  EXPECT_EQ(Field(*a, "042021:1", 2), "佐藤花子");  // the later write wins: its stamp is greater
  EXPECT_GT(a->high_water(), first);
  EXPECT_EQ(HlcMillis(a->high_water()), 1'000'000);
  clock.Set(1'000'500);
  EXPECT_EQ(a->ClockLagMillis(), 0);

  ManualClock ahead(1'200'000);
  auto b = NewStore("042021-shisho", &ahead);
  PutString(*b, "042021:2", 2, "鈴木");
  Pull(*a, *b, KeysOf({a.get(), b.get()}));
  EXPECT_EQ(a->ClockLagMillis(), 199'500);
}

TEST(Store, AbortedWriteLeavesNothing) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  std::string before = Hash(*a);
  ASSERT_TRUE(a->BeginWrite("test").ok());
  ASSERT_TRUE(a->Put("042021", kEntity, "042021:1", {{2, StringField(2, "x")}}).ok());
  a->AbortWrite();
  EXPECT_EQ(Hash(*a), before);
  EXPECT_TRUE(a->Vector()->empty());
}

TEST(Store, RemoteBlocksApplyOnceAndInOrder) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock, /*block_ops=*/2);
  auto b = NewStore("042021-shisho", &clock);
  auto keys = KeysOf({a.get(), b.get()});
  for (int i = 0; i < 5; ++i)
    PutString(*a, "042021:" + std::to_string(i), 2, "v" + std::to_string(i));
  std::vector<std::string> blocks = testing::AllBlocks(*a);
  ASSERT_EQ(blocks.size(), 5u);  // one commit each

  // A gap is refused and changes nothing.
  std::string empty = Hash(*b);
  Status gap = b->ApplyBlock(blocks[1], keys);
  EXPECT_FALSE(gap.ok());
  EXPECT_NE(gap.message().find("gap"), std::string::npos) << gap.message();
  EXPECT_EQ(Hash(*b), empty);

  for (const auto& blk : blocks) ASSERT_TRUE(b->ApplyBlock(blk, keys).ok());
  std::string full = Hash(*b);
  EXPECT_EQ(full, Hash(*a));
  for (const auto& blk : blocks) ASSERT_TRUE(b->ApplyBlock(blk, keys).ok());  // duplicates
  EXPECT_EQ(Hash(*b), full);
}

// Each stream keeps its last block's signature, which a sync's Hello sends as the stream's tip
// without reading a block: after a write of several blocks in two scopes, after a peer's blocks
// are applied, and after the node's own write there. Doctor reports a tip that is not the last
// block's signature (peers would take the node for a fork).
TEST(Store, EachStreamKeepsItsLastBlocksSignatureAsItsTip) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock, /*block_ops=*/2);
  auto b = NewStore("042021-shisho", &clock);
  auto keys = KeysOf({a.get(), b.get()});
  ASSERT_TRUE(a->BeginWrite("test").ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        a->Put("042021", kEntity, fmt::format("042021:{}", i), {{2, StringField(2, "v")}}).ok());
  }
  ASSERT_TRUE(a->Put("131016", kEntity, "131016:1", {{2, StringField(2, "w")}}).ok());
  ASSERT_TRUE(a->CommitWrite().ok());
  using Tips = std::map<std::string, std::pair<uint64_t, std::string>>;
  auto tips = [](Store& s) {
    Tips out;
    auto held = s.Tips();
    EXPECT_TRUE(held.ok()) << held.status().message();
    for (const Store::Tip& t : *held) {
      out[t.stream.incarnation + " " + t.stream.scope] = {t.seq, t.signature};
    }
    return out;
  };
  auto last_blocks = [](Store& s) {
    Tips out;
    auto vv = s.Vector();
    EXPECT_TRUE(vv.ok());
    for (const auto& [stream, seq] : *vv) {
      auto block = s.NextBlock(stream, seq - 1);
      EXPECT_TRUE(block.ok() && block->has_value());
      out[stream.incarnation + " " + stream.scope] = {seq, std::string(BlockSignature(**block))};
    }
    return out;
  };
  EXPECT_EQ(testing::AllBlocks(*a).size(), 4u);  // 2 + 2 + 1 ops, and 1 in the other scope
  Tips a_tips = tips(*a);
  ASSERT_EQ(a_tips.size(), 2u);
  EXPECT_EQ(a_tips["042021-honcho#1 042021"].first, 5u);
  EXPECT_EQ(a_tips["042021-honcho#1 042021"].second.size(), kBlockSignatureBytes);
  EXPECT_EQ(a_tips, last_blocks(*a));
  Pull(*b, *a, keys);
  EXPECT_EQ(tips(*b), a_tips);
  PutString(*b, "042021:9", 2, "x");
  EXPECT_EQ(tips(*b).size(), 3u);
  EXPECT_EQ(tips(*b), last_blocks(*b));

  auto dir = testing::FreshDir("bosai-tips-");
  EXPECT_EQ(testing::DoctorProblems(*b, dir), std::vector<std::string>{});
  ASSERT_TRUE(b->db()
                  .Exec("UPDATE streams SET tip = zeroblob(64) WHERE incarnation = "
                        "'042021-honcho#1' AND scope = '042021'")
                  .ok());
  EXPECT_EQ(testing::DoctorProblems(*b, dir),
            std::vector<std::string>{"stream 042021-honcho#1 042021: the tip kept for seq 5 is "
                                     "not its last block's signature"});
  std::filesystem::remove_all(dir);
}

// Each incarnation's key is recorded with its first block; another key for an incarnation of
// the same node id (a device made again under that id) is found, not one of another node whose
// id begins alike.
TEST(Store, AnIncarnationRecordedWithAnotherKeyIsFound) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock, kMaxBlockOps, /*epoch=*/2);
  auto b2 = NewStore("042021-shisho2", &clock);
  PutString(*b, "042021:1", 2, "v");
  PutString(*b2, "042021:2", 2, "w");
  Pull(*a, *b, KeysOf({b.get()}));
  Pull(*a, *b2, KeysOf({b2.get()}));
  const std::string b_key = b->identity()->key.public_key();
  const std::string other_key = SigningKey::Generate().public_key();
  auto found = a->IncarnationWithOtherKey("042021-shisho", other_key);
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(*found, std::optional<std::string>("042021-shisho#2"));
  found = a->IncarnationWithOtherKey("042021-shisho", b_key);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, std::nullopt);  // its own key; 042021-shisho2#1 is another node
  found = a->IncarnationWithOtherKey("042021-shelter-01", other_key);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, std::nullopt);  // never seen
  found = a->IncarnationWithOtherKey("042021-honcho", other_key);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, std::optional<std::string>("042021-honcho#1"));  // its own, from SetIdentity
}

// A node put back from an older copy of its data dir that wrote again signs other ops under
// numbers its peers hold: such a block is refused, naming the fork, and changes nothing; the
// block held under those numbers is still taken as a duplicate.
TEST(Store, ABlockUnderNumbersHeldForAnotherIsRefused) {
  ManualClock clock(1'000'000);
  const SigningKey key = SigningKey::Generate();
  auto open = [&] {
    auto s = Store::Open(":memory:", testing::TestOptions(&clock));
    EXPECT_TRUE(s.ok()) << s.status().message();
    EXPECT_TRUE((*s)->SetIdentity({"042021-shisho", 1, key}).ok());
    return std::move(s).value();
  };
  auto before = open();  // the node as it was
  auto copy = open();    // the same node put back from a copy taken before its first write
  auto a = NewStore("042021-honcho", &clock);
  auto keys = KeysOf({before.get()});
  PutString(*before, "042021:1", 2, "before");
  PutString(*copy, "042021:1", 2, "after the copy");
  Pull(*a, *before, keys);
  const std::string hash = Hash(*a);
  std::vector<std::string> forked = testing::AllBlocks(*copy);
  ASSERT_EQ(forked.size(), 1u);
  Status st = a->ApplyBlock(forked[0], keys);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "042021-shisho#1 wrote again after its data dir was put back from an older copy (a "
            "restored snapshot or backup) or copied to another computer: block 042021-shisho#1 "
            "042021 seq 1-1 is not the block held here under those numbers. Its writes since the "
            "copy took numbers its peers hold for other writes, and are refused: make that node "
            "again under a new node id from a peer, and enter again what was written there since "
            "the copy");
  EXPECT_EQ(Hash(*a), hash);
  // On the node put back, the block it held before is refused the same way, as its own.
  st = copy->ApplyBlock(testing::AllBlocks(*before)[0], keys);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.message().starts_with("this node wrote again after")) << st.message();
  EXPECT_TRUE(a->ApplyBlock(testing::AllBlocks(*before)[0], keys).ok());  // a duplicate
  EXPECT_EQ(Hash(*a), hash);
}

// A backup (Db::BackupTo) is the store as of one moment, in one file; Db::ReplaceWith puts it
// back into a store another connection has open, which then reads it. A restore records a new
// epoch: a write by a process that opened the store under the old one is refused, not written
// under numbers the restored streams may hold.
TEST(Store, ABackupPutBackUnderANewEpochRefusesWritesUnderTheOldOne) {
  ManualClock clock(1'000'000);
  auto dir = std::filesystem::temp_directory_path() / ("bosai-backup-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "bosai.db").string();
  const std::string backup = (dir / "backup.db").string();
  const SigningKey key = SigningKey::Generate();
  auto open = [&] {
    auto s = Store::Open(path, testing::TestOptions(&clock));
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(s).value();
  };
  auto a = open();
  ASSERT_TRUE(a->db().Begin().ok());
  ASSERT_TRUE(a->SetMeta("epoch", "1").ok());
  ASSERT_TRUE(a->db().Commit().ok());
  ASSERT_TRUE(a->SetIdentity({"042021-shisho", 1, key}).ok());
  PutString(*a, "042021:1", 2, "in the backup");
  const std::string at_backup = Hash(*a);
  std::vector<double> progress;
  ASSERT_TRUE(a->db().BackupTo(backup, [&](double f) { progress.push_back(f); }).ok());
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), 1.0);
  EXPECT_FALSE(std::filesystem::exists(backup + "-wal"));
  Status again = a->db().BackupTo(backup, nullptr);
  EXPECT_EQ(again.code(), Status::Code::kAlreadyExists) << again.message();
  PutString(*a, "042021:1", 2, "after the backup");

  auto restorer = open();
  ASSERT_TRUE(restorer->db().ReplaceWith(backup).ok());
  ASSERT_TRUE(restorer->db().Begin().ok());
  ASSERT_TRUE(restorer->SetMeta("epoch", "2").ok());
  ASSERT_TRUE(restorer->db().Commit().ok());
  EXPECT_EQ(Hash(*a), at_backup);  // the other connection reads what was put back
  ASSERT_FALSE(a->BeginWrite("t").ok());
  Status refused = a->BeginWrite("t");
  EXPECT_EQ(refused.message(),
            "042021-shisho#1 was restored from a backup meanwhile (now epoch 2): nothing was "
            "written; run the command again");
  EXPECT_EQ(Hash(*a), at_backup);
  a.reset();
  restorer.reset();
  auto b = open();
  ASSERT_TRUE(b->SetIdentity({"042021-shisho", 2, key}).ok());
  PutString(*b, "042021:1", 2, "under the new epoch");
  EXPECT_EQ(Field(*b, "042021:1", 2), "under the new epoch");
  b.reset();
  std::filesystem::remove_all(dir);
}

// The keys in record_keys, each with the key of the record it names.
std::vector<std::string> KeyRows(Store& s) {
  std::vector<std::string> out;
  Stmt& q = s.db().Prepare(
      "SELECT k.entity, k.key, r.key FROM record_keys k LEFT JOIN records r ON r.id = k.record "
      "AND r.entity = k.entity ORDER BY k.entity, k.key");
  while (q.Step()) out.push_back(fmt::format("{} {} {}", q.Int(0), q.Text(1), q.Text(2)));
  q.Reset();
  return out;
}

// The records as stored: entity, key, body (decoded) and clock, in key order.
std::vector<std::string> RecordRows(Store& s) {
  std::vector<std::string> out;
  Stmt& q = s.db().Prepare(
      "SELECT entity, key, hex(record_body(body)), hex(clock) FROM records ORDER BY entity, key");
  while (q.Step()) {
    out.push_back(fmt::format("{} {} {} {}", q.Int(0), q.Text(1), q.Text(2), q.Text(3)));
  }
  q.Reset();
  return out;
}

int64_t Count(Store& s, const std::string& sql) {
  Stmt& q = s.db().Prepare(sql);
  q.Step();
  int64_t n = q.Int(0);
  q.Reset();
  return n;
}

// The entries of record_index, by record key (row ids differ between stores).
std::vector<std::string> IndexRows(Store& s) {
  std::vector<std::string> out;
  Stmt& q = s.db().Prepare(
      "SELECT i.kind, quote(i.value), r.entity, r.key FROM record_index i "
      "JOIN records r ON r.id = i.record ORDER BY 1, 2, 3, 4");
  while (q.Step()) {
    out.push_back(fmt::format("{} {} {} {}", q.Int(0), q.Text(1), q.Int(2), q.Text(3)));
  }
  q.Reset();
  return out;
}

// Two writers with a conflict, a resolved conflict, an event and a register edit.
void WriteHistory(Store& a, Store& c, const KeyLookup& keys) {
  for (int i = 0; i < 6; ++i) PutString(a, "042021:" + std::to_string(i % 3), 2, "v");
  PutString(a, "042021:9", 8, "旧住所", v1::OP_SOURCE_REGISTER);
  Pull(c, a, keys);
  PutString(a, "042021:0", 2, "honcho");
  PutString(c, "042021:0", 2, "shisho");  // concurrent: a conflict
  PutString(c, "042021:9", 8, "訂正住所");
  ASSERT_TRUE(c.BeginWrite("test").ok());
  ASSERT_TRUE(c.AppendEvent("042021", 3, "shelter:1", "checked in").ok());
  ASSERT_TRUE(c.CommitWrite().ok());
  Pull(a, c, keys);
  Pull(c, a, keys);
}

TEST(Store, ABootstrapBuildsTheSameStateOnceAtTheEnd) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock, /*block_ops=*/2);
  auto c = NewStore("042021-hinan", &clock, /*block_ops=*/3);
  auto b = NewStore("042021-shisho", &clock);
  auto keys = KeysOf({a.get(), b.get(), c.get()});
  WriteHistory(*a, *c, keys);
  ASSERT_EQ(a->ListConflicts()->size(), 1u);

  ASSERT_EQ(KeyRows(*a).size(), 4u);
  ASSERT_EQ(KeyRows(*a)[0], "1 042021:0 042021:0");
  auto begun = b->BeginBootstrap();
  ASSERT_TRUE(begun.ok() && *begun);
  for (const auto& blk : testing::AllBlocks(*a)) ASSERT_TRUE(b->ApplyBlock(blk, keys).ok());
  EXPECT_EQ(b->Vector()->size(), a->Vector()->size()) << "blocks are stored as they come";
  EXPECT_EQ(*b->CountRecords(kEntity), 0u) << "nothing is materialized before the end";
  ASSERT_TRUE(b->EndBootstrap().ok());
  EXPECT_EQ(KeyRows(*b), KeyRows(*a));
  EXPECT_EQ(Hash(*b), Hash(*a));
  EXPECT_EQ(IndexRows(*b), IndexRows(*a)) << "the index entries built at the end";
  EXPECT_EQ(IndexRows(*b).size(), 12u) << "three entries for each of four records";
  EXPECT_EQ(b->ListConflicts()->size(), 1u);
  EXPECT_EQ(**b->GetRegisterBase(kEntity, "042021:9", 8), StringField(8, "旧住所"));
  EXPECT_EQ(Count(*b, "SELECT count(*) FROM meta WHERE k = 'bootstrap'"), 0);

  // Later blocks are materialized one by one again; a store that holds records does not bootstrap.
  PutString(*a, "042021:1", 2, "later");
  Pull(*b, *a, keys);
  EXPECT_EQ(Field(*b, "042021:1", 2), "later");
  begun = b->BeginBootstrap();
  ASSERT_TRUE(begun.ok());
  EXPECT_FALSE(*begun);
  EXPECT_EQ(KeyRows(*b), KeyRows(*a));
  EXPECT_EQ(IndexRows(*b), IndexRows(*a)) << "entries follow a record that changes";
}

// A bootstrap builds most records as the union of their ops' fields, without the merge: the
// rows (bodies and clocks) must be those that merging the same blocks one by one gives.
TEST(Store, ABootstrapStoresTheRowsThatMergingOneByOneStores) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock, /*block_ops=*/2);
  auto c = NewStore("042021-hinan", &clock, /*block_ops=*/3);
  auto keys = KeysOf({a.get(), c.get()});
  PutString(*a, "042021:5", 2, "x");  // two ops set different fields: their union
  PutString(*c, "042021:5", 3, "y");
  PutString(*a, "042021:6", 2, "p");  // two ops set the same field: a conflict, merged
  PutString(*c, "042021:6", 2, "q");
  WriteHistory(*a, *c, keys);
  auto b = NewStore("042021-shisho", &clock);
  auto d = NewStore("042021-shisho", &clock);
  ASSERT_TRUE(*b->BeginBootstrap());
  for (const auto& blk : testing::AllBlocks(*a)) {
    ASSERT_TRUE(b->ApplyBlock(blk, keys).ok());
    ASSERT_TRUE(d->ApplyBlock(blk, keys).ok());
  }
  ASSERT_TRUE(b->EndBootstrap().ok());
  EXPECT_EQ(RecordRows(*b), RecordRows(*d));
  EXPECT_EQ(RecordRows(*b).size(), 6u);
  EXPECT_EQ(Field(*b, "042021:5", 2), "x");
  EXPECT_EQ(Field(*b, "042021:5", 3), "y");
  EXPECT_EQ(b->ListConflicts()->size(), 2u);  // 042021:6 and WriteHistory's
  // Those of one record.
  auto of6 = b->ListConflicts(kEntity, "042021:6");
  ASSERT_TRUE(of6.ok());
  ASSERT_EQ(of6->size(), 1u);
  EXPECT_EQ((*of6)[0].key, "042021:6");
  EXPECT_TRUE(b->ListConflicts(kEntity, "042021:5")->empty());
  EXPECT_EQ(Hash(*b), Hash(*a));
}

// A bootstrap keeps what it decoded of each received block for its end, by the block's range.
// What a write that is rolled back received is forgotten: the block materialized at the end is
// the one stored for that range (here its origin signed two different blocks for one range).
TEST(Store, ABootstrapForgetsWhatAWriteRolledBackReceived) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  Store::Options o = testing::TestOptions(&clock);
  auto twin = Store::Open(":memory:", o);  // the same origin: a's identity and key
  ASSERT_TRUE(twin.ok());
  ASSERT_TRUE((*twin)->SetIdentity(*a->identity()).ok());
  PutString(*a, "042021:1", 2, "stored");
  PutString(**twin, "042021:1", 2, "rolled back");
  auto keys = KeysOf({a.get()});

  auto b = NewStore("042021-shisho", &clock);
  ASSERT_TRUE(*b->BeginBootstrap());
  ASSERT_TRUE(b->BeginWrite("sync").ok());
  for (const auto& blk : testing::AllBlocks(**twin)) ASSERT_TRUE(b->ApplyBlock(blk, keys).ok());
  b->AbortWrite();
  for (const auto& blk : testing::AllBlocks(*a)) ASSERT_TRUE(b->ApplyBlock(blk, keys).ok());
  ASSERT_TRUE(b->EndBootstrap().ok());
  EXPECT_EQ(Field(*b, "042021:1", 2), "stored");
  EXPECT_EQ(Hash(*b), Hash(*a));
}

TEST(Store, ABootstrapInSeveralPassesBuildsTheSameState) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock, /*block_ops=*/2);
  auto c = NewStore("042021-hinan", &clock, /*block_ops=*/3);
  auto keys = KeysOf({a.get(), c.get()});
  WriteHistory(*a, *c, keys);
  for (int i = 0; i < 40; ++i) PutString(*a, "042021:m" + std::to_string(i), 3, "x");
  uint64_t stored = 0;
  for (const auto& blk : testing::AllBlocks(*a)) stored += blk.size();
  // A pass per few ops, the received blocks decoded again at the end (too many to keep); then
  // three passes over the blocks as decoded when received.
  for (uint64_t pass_bytes : {uint64_t(64), 2 * stored}) {
    SCOPED_TRACE(pass_bytes);
    Store::Options o;
    o.clock = &clock;
    o.bootstrap_pass_bytes = pass_bytes;
    o.index_build_bytes = 100;  // index entries sorted in several runs
    o.indexer = testing::TestIndexer;
    auto b = Store::Open(":memory:", o);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE((*b)->SetIdentity({"042021-shisho", 1, SigningKey::Generate()}).ok());
    ASSERT_TRUE(*(*b)->BeginBootstrap());
    for (const auto& blk : testing::AllBlocks(*a)) ASSERT_TRUE((*b)->ApplyBlock(blk, keys).ok());
    ASSERT_TRUE((*b)->EndBootstrap().ok());
    EXPECT_EQ(Hash(**b), Hash(*a));
    EXPECT_EQ(IndexRows(**b), IndexRows(*a));
    EXPECT_EQ((*b)->ListConflicts()->size(), 1u);
  }
}

TEST(Store, ALocalWriteFinishesABootstrapFirst) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock);
  auto keys = KeysOf({a.get(), b.get()});
  PutString(*a, "042021:1", 2, "honcho");
  PutString(*a, "042021:2", 2, "honcho");
  ASSERT_TRUE(*b->BeginBootstrap());
  Pull(*b, *a, keys);
  PutString(*b, "042021:1", 2, "shisho");  // names the value it overwrites: no conflict
  EXPECT_EQ(Field(*b, "042021:1", 2), "shisho");
  EXPECT_EQ(Field(*b, "042021:2", 2), "honcho");
  EXPECT_TRUE(b->ListConflicts()->empty());
  ASSERT_TRUE(b->EndBootstrap().ok());  // nothing left to do
  Pull(*a, *b, keys);
  EXPECT_EQ(Hash(*a), Hash(*b));
}

// A bootstrap of a store file leaves WAL mode for its one transaction when it has the file to
// itself, and stays in it when another connection has it open; either way the state is whole,
// and the store is in WAL mode after.
TEST(Store, ABootstrapOfAFileEndsInWalModeWhetherOrNotItHasTheFileToItself) {
  ManualClock clock(1'000'000);
  auto dir = std::filesystem::temp_directory_path() / ("bosai-wal-" + std::to_string(getpid()));
  auto a = NewStore("042021-honcho", &clock, 3);
  for (int i = 0; i < 20; ++i) PutString(*a, "042021:" + std::to_string(i), 2, "v");
  auto keys = KeysOf({a.get()});
  Store::Options o = testing::TestOptions(&clock);
  for (bool alone : {true, false}) {
    SCOPED_TRACE(alone ? "alone" : "with another connection");
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "bosai.db").string();
    auto b = Store::Open(path, o);
    ASSERT_TRUE(b.ok()) << b.status().message();
    ASSERT_TRUE(*(*b)->BeginBootstrap());
    for (const auto& blk : testing::AllBlocks(*a)) ASSERT_TRUE((*b)->ApplyBlock(blk, keys).ok());
    std::unique_ptr<Store> reader;
    if (!alone) reader = std::move(*Store::Open(path, o));
    ASSERT_TRUE((*b)->EndBootstrap().ok());
    // Alone, the bootstrap's transaction went to a rollback journal, not to the log.
    std::error_code ec;
    auto log_bytes = std::filesystem::file_size(path + "-wal", ec);
    if (alone) {
      EXPECT_TRUE(ec || log_bytes == 0) << log_bytes;
    } else {
      EXPECT_GT(log_bytes, 0u);
    }
    EXPECT_EQ(Hash(**b), Hash(*a));
    EXPECT_EQ(IndexRows(**b), IndexRows(*a));
    if (reader) {
      EXPECT_EQ(Hash(*reader), Hash(*a));
    }
    Stmt& mode = (*b)->db().Prepare("PRAGMA journal_mode");
    ASSERT_TRUE(mode.Step());
    EXPECT_EQ(mode.Text(0), "wal");
    mode.Reset();
    EXPECT_EQ(testing::DoctorProblems(**b, dir), std::vector<std::string>{});
  }
  std::filesystem::remove_all(dir);
}

// A bulk write (a first import, and a bootstrap's end likewise) syncs the database file on
// another thread while it builds the indexes. That must not drop the write lock: closing any
// descriptor of the file would drop every POSIX lock of this process on it, SQLite's
// included. Another process (the sqlite3 shell) must still find the store locked.
TEST(Store, ABulkWriteKeepsItsLockWhileItsFileIsSynced) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-held-");
  const std::string path = (dir / "bosai.db").string();
  Store::Options o = testing::TestOptions(&clock);
  auto s = Store::Open(path, o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  Store& store = **s;
  ASSERT_TRUE(store.SetIdentity({"042021-honcho", 1, SigningKey::Generate()}).ok());
  for (bool journal : {true, false}) {
    SCOPED_TRACE(journal ? "rollback journal" : "WAL");
    if (journal) {
      ASSERT_TRUE(store.UseRollbackJournal());
    }
    ASSERT_TRUE(store.BeginWrite("test").ok());
    ASSERT_TRUE(store.BeginBulk().ok());
    for (int i = 0; i < 50; ++i) {
      const std::string key = fmt::format("042021:{}{}", journal ? "j" : "w", i);
      ASSERT_TRUE(
          store.PutNew(kEntity, key, {{"042021", StringField(2, "v")}}, v1::OP_SOURCE_USER).ok());
    }
    ASSERT_TRUE(store.EndBulk().ok());  // has synced on another thread
    const std::string other = fmt::format(
        "sqlite3 -cmd '.timeout 0' '{}' 'BEGIN IMMEDIATE; COMMIT;' >/dev/null 2>&1", path);
    EXPECT_NE(std::system(other.c_str()), 0) << "another process took the write lock";
    ASSERT_TRUE(store.CommitWrite().ok());
    if (journal) {
      ASSERT_TRUE(store.RestoreWal().ok());
    }
    EXPECT_EQ(std::system(other.c_str()), 0) << "the lock is free after the commit";
  }
  EXPECT_EQ(*store.CountRecords(kEntity), 100u);
  std::filesystem::remove_all(dir);
}

// While a connection writes through a rollback journal (a bootstrap's or a first import's one
// transaction), another that opens the file waits for it (setting WAL mode needs the write
// lock, and SQLite would report busy at once), then reads what it wrote.
TEST(Db, AnOpenWaitsForAWriteThroughARollbackJournal) {
  auto dir = testing::FreshDir("bosai-lock-");
  const std::string path = (dir / "bosai.db").string();
  auto w = Db::Open(path);
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_TRUE((*w)->Exec("CREATE TABLE t(x)").ok());
  ASSERT_TRUE((*w)->Exec("PRAGMA journal_mode=TRUNCATE").ok());
  ASSERT_TRUE((*w)->Exec("BEGIN IMMEDIATE; INSERT INTO t VALUES(1)").ok());
  auto commit = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return (*w)->Exec("COMMIT");
  });
  auto r = Db::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(commit.get().ok());
  Stmt& q = (*r)->Prepare("SELECT count(*) FROM t");
  ASSERT_TRUE(q.Step());
  EXPECT_EQ(q.Int(0), 1);
  q.Reset();
  Stmt& mode = (*r)->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.Step());
  EXPECT_EQ(mode.Text(0), "wal");
  mode.Reset();
  std::filesystem::remove_all(dir);
}

// A file that is not a database, or whose pages SQLite finds broken, is a damaged file (the
// command line then says how to rebuild the node), and stays one through the context and notes
// added on its way up; data that fails bosai's own checks is not.
TEST(Db, AFileSQLiteFindsBrokenIsADamagedFile) {
  auto dir = testing::FreshDir("bosai-damaged-");
  const std::string path = (dir / "bosai.db").string();
  std::ofstream(path) << std::string(20000, 'x');
  auto db = Db::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::kCorruption);
  EXPECT_TRUE(IsDamagedFile(db.status())) << db.status().message();
  EXPECT_TRUE(IsDamagedFile(db.status().WithContext("store").WithNote("nothing was done")));
  EXPECT_FALSE(IsDamagedFile(Status::Corruption("sqlite: database disk image is malformed")))
      << "decided by where the error came from, not by its words";
  EXPECT_FALSE(IsDamagedFile(Status::IoError("sqlite: disk I/O error")));
  std::filesystem::remove_all(dir);
}

TEST(Store, ABootstrapCutShortIsFinishedByTheNextOpen) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-boot-");
  const std::string path = (dir / "bosai.db").string();
  auto a = NewStore("042021-honcho", &clock, 2);
  for (int i = 0; i < 7; ++i)
    PutString(*a, "042021:" + std::to_string(i % 4), 2, "v" + std::to_string(i));
  auto keys = KeysOf({a.get()});
  Store::Options o = testing::TestOptions(&clock);
  {
    auto b = Store::Open(path, o);
    ASSERT_TRUE(b.ok()) << b.status().message();
    ASSERT_TRUE(*(*b)->BeginBootstrap());
    for (const auto& blk : testing::AllBlocks(*a)) ASSERT_TRUE((*b)->ApplyBlock(blk, keys).ok());
    // Another process opening the store meanwhile leaves the bootstrap to its owner.
    auto other = Store::Open(path, o);
    ASSERT_TRUE(other.ok()) << other.status().message();
    EXPECT_EQ(*(*other)->CountRecords(kEntity), 0u);
    EXPECT_FALSE(*(*other)->BeginBootstrap()) << "one process bootstraps a store";
  }  // the owner ends without EndBootstrap, as after kill -9
  auto b = Store::Open(path, o);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(*(*b)->CountRecords(kEntity), 4u);
  EXPECT_EQ(KeyRows(**b), KeyRows(*a));
  EXPECT_EQ(IndexRows(**b), IndexRows(*a));
  EXPECT_EQ(Hash(**b), Hash(*a));
  EXPECT_EQ(testing::DoctorProblems(**b, dir), std::vector<std::string>{});
  b->reset();
  std::filesystem::remove_all(dir);
}

// A store indexed under older rules (a search fold that folds less) is indexed again by the
// first process that opens it to write, once; until then a doctor names what differs, and a
// store open to read keeps what it holds.
TEST(Store, AnIndexMadeByOlderRulesIsMadeAgainWhenTheStoreIsOpenedToWrite) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-reindex-");
  const std::string path = (dir / "bosai.db").string();
  // Rules 1 index field 2 as it is; rules 2 its value in capitals, in text2 as well.
  auto rules = [](int version, int* calls) -> Indexer {
    return [version, calls](uint32_t entity, std::string_view body) {
      ++*calls;
      IndexColumns ix = testing::TestIndexer(entity, body);
      if (version == 2 && ix.text) {
        std::string value = testing::StringValue(*ix.text);
        for (char& c : value) c = char(std::toupper(static_cast<unsigned char>(c)));
        ix.text = ix.text2 = value;
      }
      return ix;
    };
  };
  int calls = 0;
  auto open = [&](int version, bool read_only) {
    Store::Options o = testing::TestOptions(&clock);
    o.indexer = rules(version, &calls);
    o.indexer_version = uint32_t(version);
    o.read_only = read_only;
    auto s = Store::Open(path, o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(s).value();
  };
  {
    auto s = open(1, false);
    ASSERT_TRUE(s->SetIdentity({"042021-honcho", 1, SigningKey::Generate()}).ok());
    PutString(*s, "042021:1", 2, "abc");
    PutString(*s, "042021:2", 2, "xyz");
    PutString(*s, "042021:3", 3, "no text");
    EXPECT_EQ(IndexRows(*s)[0],
              "1 '\x12\x03"
              "abc' 1 042021:1");
    ASSERT_TRUE(s->Doctor((dir / "scratch.db").string())->ok());
  }
  {
    // Read only, the older index is not this indexer's: doctor says so rather than call it
    // damaged.
    auto s = open(2, true);
    auto report = s->Doctor((dir / "scratch.db").string());
    ASSERT_TRUE(report.ok()) << report.status().message();
    EXPECT_TRUE(report->problems.empty()) << report->problems[0];
    ASSERT_EQ(report->warnings.size(), 1u);
    EXPECT_NE(report->warnings[0].find("(indexer 1, this one's 2)"), std::string::npos)
        << report->warnings[0];
  }
  calls = 0;
  auto s = open(2, false);
  EXPECT_EQ(calls, 3) << "each record indexed once";
  EXPECT_EQ(IndexRows(*s)[0], "1 'ABC' 1 042021:1");
  EXPECT_EQ(Count(*s, "SELECT count(*) FROM records WHERE idx_text2 IN ('ABC', 'XYZ')"), 2);
  EXPECT_EQ(Count(*s, "SELECT count(*) FROM records WHERE idx_text2 IS NULL"), 1);
  ASSERT_TRUE(s->Doctor((dir / "scratch.db").string())->ok());
  s.reset();
  calls = 0;
  s = open(2, false);
  EXPECT_EQ(calls, 0) << "indexed again only when the rules change";
  EXPECT_EQ(IndexRows(*s)[0], "1 'ABC' 1 042021:1");
  // Made by this indexer, the index and the folded names are checked.
  ASSERT_TRUE(s->db()
                  .Exec("UPDATE records SET idx_text2 = 'abc' WHERE key = '042021:1';"
                        "UPDATE record_index SET value = 'XYZ!' WHERE value = 'XYZ'")
                  .ok());
  auto report = s->Doctor((dir / "scratch.db").string());
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->problems,
            (std::vector<std::string>{
                "records: 1 folded names for search differ from their bodies' (first: record "
                "042021:1)",
                "record_index: 1 entries missing (first: record 042021:2)",
                "record_index: 1 entries no record gives"}));
  EXPECT_TRUE(report->warnings.empty()) << report->warnings[0];
  s.reset();
  // A version that is not a number names no indexer: read only, reading it is an error that names
  // it, and doctor says the index is not checked; opened to write, the index is made again and the
  // version written as a number.
  {
    auto w = open(2, false);
    ASSERT_TRUE(w->db().Exec("UPDATE meta SET v = '2x' WHERE k = 'indexer_version'").ok());
  }
  {
    auto r = open(2, true);
    auto damaged = r->IndexedBy();
    ASSERT_FALSE(damaged.ok());
    EXPECT_NE(damaged.status().message().find("meta indexer_version is damaged: \"2x\""),
              std::string::npos)
        << damaged.status().message();
    auto unknown = r->Doctor((dir / "scratch.db").string());
    ASSERT_TRUE(unknown.ok()) << unknown.status().message();
    ASSERT_EQ(unknown->warnings.size(), 1u);
    EXPECT_NE(unknown->warnings[0].find("(indexer unknown, this one's 2)"), std::string::npos)
        << unknown->warnings[0];
  }
  calls = 0;
  s = open(2, false);
  EXPECT_EQ(calls, 3) << "each record indexed again";
  EXPECT_EQ(*s->IndexedBy(), std::optional<uint64_t>(2));
  report = s->Doctor((dir / "scratch.db").string());
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
  EXPECT_TRUE(report->warnings.empty()) << report->warnings[0];
  s.reset();
  std::filesystem::remove_all(dir);
}

TEST(Store, DoctorFindsADamagedRecordIndex) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-ix-");
  auto a = NewStore("042021-honcho", &clock);
  PutString(*a, "042021:1", 2, "v");
  PutString(*a, "042021:2", 2, "w");
  const std::string scratch = (dir / "scratch.db").string();
  ASSERT_TRUE(a->Doctor(scratch)->ok());
  // An entry whose value changed (as many entries as before, each side read in one scan): one
  // missing, one stray. The same with a number where a text was, and with a key's record.
  for (const char* damage :
       {"UPDATE record_index SET value = value || 'x' WHERE kind = 1 AND record = 2",
        "UPDATE record_index SET value = 7 WHERE kind = 1 AND record = 2"}) {
    ASSERT_TRUE(a->db().Exec("SAVEPOINT damage").ok());
    ASSERT_TRUE(a->db().Exec(damage).ok());
    auto changed = a->Doctor(scratch);
    ASSERT_TRUE(changed.ok());
    EXPECT_EQ(changed->problems,
              (std::vector<std::string>{"record_index: 1 entries missing (first: record 042021:2)",
                                        "record_index: 1 entries no record gives"}))
        << damage;
    ASSERT_TRUE(a->db().Exec("ROLLBACK TO damage; RELEASE damage").ok());
  }
  ASSERT_TRUE(a->db().Exec("SAVEPOINT damage").ok());
  ASSERT_TRUE(a->db().Exec("UPDATE record_keys SET record = 1 WHERE key = '042021:2'").ok());
  EXPECT_EQ(a->Doctor(scratch)->problems,
            (std::vector<std::string>{
                "materialized state differs from a replay of the op-log (state hash mismatch)",
                "record_keys: 1 records missing", "record_keys: 1 keys of no record"}));
  ASSERT_TRUE(a->db().Exec("ROLLBACK TO damage; RELEASE damage").ok());
  ASSERT_TRUE(a->Doctor(scratch)->ok());
  ASSERT_TRUE(a->db().Exec("DELETE FROM record_index WHERE kind = 1 AND record = 1").ok());
  auto report = a->Doctor(scratch);
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0], "record_index: 1 entries missing (first: record 042021:1)");
  ASSERT_TRUE(a->db().Exec("INSERT INTO record_index VALUES(1, 'stray', 7)").ok());
  report = a->Doctor(scratch);
  ASSERT_EQ(report->problems.size(), 2u);
  EXPECT_EQ(report->problems[1], "record_index: 1 entries no record gives");
  // record_keys holds each record's key: one moved to another record is missing and stray
  // (and the record is not in the state any more).
  ASSERT_TRUE(a->db().Exec("UPDATE record_keys SET record = 99 WHERE key = '042021:1'").ok());
  report = a->Doctor(scratch);
  EXPECT_EQ(report->problems,
            (std::vector<std::string>{
                "materialized state differs from a replay of the op-log (state hash mismatch)",
                "record_keys: 1 records missing", "record_keys: 1 keys of no record",
                "record_index: 1 entries missing (first: record 042021:1)",
                "record_index: 1 entries no record gives"}));
  std::filesystem::remove_all(dir);
}

TEST(Store, OneDoctorAtATimeUsesAScratchStore) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-dr-");
  auto a = NewStore("042021-honcho", &clock);
  PutString(*a, "042021:1", 2, "v");
  const std::string scratch = (dir / "scratch.db").string();
  // Another doctor is replaying into the scratch store: a second one leaves its files alone.
  int other = ::open((scratch + "-lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(other, 0);
  ASSERT_EQ(::flock(other, LOCK_EX | LOCK_NB), 0);
  { std::ofstream(scratch) << "the other doctor's replay"; }
  auto busy = a->Doctor(scratch);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), Status::Code::kBusy);
  EXPECT_NE(busy.status().message().find("another bosai doctor"), std::string::npos)
      << busy.status().message();
  EXPECT_EQ(std::filesystem::file_size(scratch), 25u);
  ::close(other);  // it ends, or is killed: the next doctor removes what it left
  auto report = a->Doctor(scratch);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->records, 1u);
  EXPECT_FALSE(std::filesystem::exists(scratch));
  std::filesystem::remove_all(dir);
}

// Doctor says how far it has come, step by step, from 0 to 1 and never back.
TEST(Store, DoctorReportsItsProgress) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-dp-");
  auto a = NewStore("042021-honcho", &clock, /*block_ops=*/2);
  for (int i = 0; i < 10; ++i) PutString(*a, fmt::format("042021:{}", i), 2, "v");
  std::vector<std::pair<double, std::string>> heard;
  auto report = a->Doctor((dir / "scratch.db").string(), [&](double f, std::string_view step) {
    heard.emplace_back(f, std::string(step));
  });
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(report->ok());
  ASSERT_GE(heard.size(), 5u + 5u);  // a step per block of the replay
  EXPECT_EQ(heard.front(), (std::pair<double, std::string>{0, "checking the database file"}));
  EXPECT_EQ(heard.back(), (std::pair<double, std::string>{1, "done"}));
  std::vector<std::string> steps;
  for (size_t i = 0; i < heard.size(); ++i) {
    if (i > 0) {
      EXPECT_GE(heard[i].first, heard[i - 1].first) << heard[i].second;
    }
    if (steps.empty() || steps.back() != heard[i].second) steps.push_back(heard[i].second);
  }
  EXPECT_EQ(steps, (std::vector<std::string>{"checking the database file", "replaying the op-log",
                                             "building the replay's records",
                                             "comparing the records with the replay's",
                                             "checking the record index", "done"}));
  std::filesystem::remove_all(dir);
}

// A store file at PATH holding one record (042021:1, field 2 = 佐藤), written and closed; its
// state hash.
std::string OneRecordStore(const std::string& path, ManualClock& clock, const SigningKey& key) {
  auto w = Store::Open(path, testing::TestOptions(&clock));
  EXPECT_TRUE(w.ok()) << w.status().message();
  if (!w.ok()) return "";
  EXPECT_TRUE((*w)->SetIdentity({"042021-honcho", 1, key}).ok());
  PutString(**w, "042021:1", 2, "佐藤");
  return Hash(**w);
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A store opened read-only (a copy being checked): reads, the state hash and doctor work; a write
// fails and says why; the file's bytes stay as they were. A store of an older schema is not
// migrated read-only: that would be a write.
TEST(Store, AStoreOpenedReadOnlyIsReadAndNeverWritten) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-ro-");
  const std::string path = (dir / "bosai.db").string();
  const SigningKey key = SigningKey::Generate();
  const std::string hash = OneRecordStore(path, clock, key);
  const std::string before = FileBytes(path);

  Store::Options o = testing::TestOptions(&clock);
  o.read_only = true;
  auto r = Store::Open(path, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  Store& ro = **r;
  ASSERT_TRUE(ro.SetIdentity({"042021-honcho", 1, key}).ok());
  EXPECT_EQ(Field(ro, "042021:1", 2), "佐藤");
  EXPECT_EQ(Hash(ro), hash);
  EXPECT_EQ(testing::DoctorProblems(ro, dir), std::vector<std::string>{});

  Status write = ro.BeginWrite("test");
  EXPECT_FALSE(write.ok());
  EXPECT_NE(write.message().find("the store is open read-only"), std::string::npos)
      << write.message();
  Status meta = ro.SetMeta("k", "v");
  EXPECT_FALSE(meta.ok());
  EXPECT_NE(meta.message().find("the store is open read-only and this command would change it"),
            std::string::npos)
      << meta.message();
  r->reset();
  EXPECT_TRUE(before == FileBytes(path)) << "the file changed";

  {
    auto old = Db::Open(path);
    ASSERT_TRUE(old.ok());
    ASSERT_TRUE((*old)->Exec("PRAGMA user_version = 6").ok());
  }
  auto older = Store::Open(path, o);
  ASSERT_FALSE(older.ok());
  EXPECT_NE(older.status().message().find("open it once where it can be written, to upgrade it"),
            std::string::npos)
      << older.status().message();
  std::filesystem::remove_all(dir);
}

// A disk with no room left: SQLite cannot make its shared-memory file, so the store cannot be
// opened as usual, and the error says the disk is full. Opened alone (a command that ends soon),
// it is read as before, a write fails saying the disk is full, and the file keeps its bytes.
// With room again, the store opens and is written as usual.
TEST(Store, AFullDiskIsStillReadAndSaysWhyNothingIsWritten) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-full-");
  const std::string path = (dir / "bosai.db").string();
  const SigningKey key = SigningKey::Generate();
  const std::string hash = OneRecordStore(path, clock, key);
  const std::string before = FileBytes(path);
  constexpr std::string_view kFull = "the disk that holds the data dir is full";
  {
    testing::FullDisk full;
    auto usual = Store::Open(path, testing::TestOptions(&clock));
    ASSERT_FALSE(usual.ok());
    EXPECT_NE(usual.status().message().find(kFull), std::string::npos) << usual.status().message();

    Store::Options o = testing::TestOptions(&clock);
    o.alone_if_disk_full = true;
    auto alone = Store::Open(path, o);
    ASSERT_TRUE(alone.ok()) << alone.status().message();
    Store& s = **alone;
    EXPECT_TRUE(s.db().disk_full());
    EXPECT_TRUE(s.db().read_only());
    ASSERT_TRUE(s.SetIdentity({"042021-honcho", 1, key}).ok());
    EXPECT_EQ(Field(s, "042021:1", 2), "佐藤");
    EXPECT_EQ(Hash(s), hash);
    for (Status write : {s.BeginWrite("test"), s.SetMeta("k", "v")}) {
      EXPECT_FALSE(write.ok());
      EXPECT_NE(write.message().find(kFull), std::string::npos) << write.message();
    }
  }
  EXPECT_TRUE(before == FileBytes(path)) << "the file changed";

  auto again = Store::Open(path, testing::TestOptions(&clock));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_FALSE((*again)->db().disk_full());
  ASSERT_TRUE((*again)->SetIdentity({"042021-honcho", 1, key}).ok());
  PutString(**again, "042021:1", 2, "鈴木");
  EXPECT_EQ(Field(**again, "042021:1", 2), "鈴木");
  EXPECT_EQ(testing::DoctorProblems(**again, dir), std::vector<std::string>{});
  again->reset();
  std::filesystem::remove_all(dir);
}

// Rewrites every record's clock in the protobuf form (bosai.v1.RecordClock) that stores held
// before the compact one (storage/record_codec.h).
void ProtobufClocks(Store& s) {
  std::vector<std::pair<int64_t, std::string>> rows;
  Stmt& q = s.db().Prepare("SELECT id, clock FROM records");
  while (q.Step()) rows.emplace_back(q.Int(0), std::string(q.Blob(1)));
  q.Reset();
  ASSERT_FALSE(rows.empty());
  for (const auto& [id, stored] : rows) {
    ASSERT_EQ(stored[0], 0x02);
    StoredClock clock;
    ASSERT_TRUE(DecodeClock(stored, &clock).ok());
    Stmt& u = s.db().Prepare("UPDATE records SET clock = ? WHERE id = ?");
    ASSERT_TRUE(u.BindBlob(1, testing::ProtobufClock(clock)).Bind(2, id).Run().ok());
  }
}

TEST(Store, OlderDatabasesAreMigrated) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-v1-");
  const std::string path = (dir / "bosai.db").string();
  Store::Options o = testing::TestOptions(&clock);
  // What versions 1 and 2 left: index values in columns of `records` with SQLite indexes on
  // them (led by the entity in version 1), no record_index. Before version 4, the keys of
  // records were a SQLite index on records, not record_keys. Before version 5, no record body
  // was compressed and there was no record_dicts. Before version 6, dictionaries had no digest;
  // before version 7, a reference's index entry held the key's text.
  // Clocks were protobuf messages until version 5 had been released (read as they are, no
  // migration).
  const std::string v3_keys =
      "DROP TRIGGER records_keyed; DROP TABLE record_keys;"
      "CREATE UNIQUE INDEX records_key ON records(entity, key);";
  const std::map<int, std::string> older = {
      {1,
       "CREATE INDEX records_text ON records(entity, idx_text);"
       "CREATE INDEX records_num ON records(entity, idx_num);"},
      {2,
       "CREATE INDEX records_kana ON records(idx_text) WHERE idx_text IS NOT NULL;"
       "CREATE INDEX records_household ON records(idx_ref) WHERE idx_ref IS NOT NULL;"},
      {3, ""},
      {4, ""},
      {5, ""},
      {6, ""},
      {7, ""}};
  for (const auto& [version, indexes] : older) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::vector<std::string> entries;
    const SigningKey key = SigningKey::Generate();
    {
      auto s = Store::Open(path, o);
      ASSERT_TRUE(s.ok());
      ASSERT_TRUE((*s)->SetIdentity({"042021-honcho", 1, key}).ok());
      PutString(**s, "042021:1", 2, "v");
      PutString(**s, "042021:2", 8, "r");
      entries = IndexRows(**s);
      ASSERT_EQ(entries.size(), 6u);
      ProtobufClocks(**s);
      auto column = [](const char* name, const char* type, int kind) {
        return fmt::format(
            "ALTER TABLE records ADD COLUMN {0} {1};"
            "UPDATE records SET {0} = (SELECT value FROM record_index WHERE kind = {2} AND "
            "record = records.id);",
            name, type, kind);
      };
      Status st = (*s)->db().Exec(
          // Until version 7 a reference's entry held the key's text: here field 8 as the test
          // indexer gives it, on the wire ("r" after its tag and length).
          std::string(version < 7 ? "UPDATE record_index SET value = CAST(x'420172' AS TEXT) "
                                    "WHERE kind = 3;"
                                  : "") +
          (version < 3 ? column("idx_text", "TEXT", 1) + column("idx_num", "INTEGER", 2) +
                             column("idx_ref", "TEXT", 3) + column("idx_lookup", "INTEGER", 4) +
                             "DROP TABLE record_index;"
                       : "") +
          indexes + (version < 4 ? v3_keys : "") +
          (version < 5    ? "DROP TABLE record_dicts;"
           : version == 5 ? "ALTER TABLE record_dicts DROP COLUMN digest;"
                            "INSERT INTO record_dicts(id, data) VALUES(7, x'0a03616263');"
                          : "") +
          "ALTER TABLE streams DROP COLUMN tip;" + fmt::format("PRAGMA user_version={}", version));
      ASSERT_TRUE(st.ok()) << st.message();
    }
    auto s = Store::Open(path, o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    ASSERT_TRUE((*s)->SetIdentity({"042021-honcho", 1, key}).ok());
    EXPECT_EQ(Count(**s, "PRAGMA user_version"), 8);
    // Before version 8, streams kept no tip: it is taken from each stream's last block.
    auto tips = (*s)->Tips();
    ASSERT_TRUE(tips.ok()) << tips.status().message();
    ASSERT_EQ(tips->size(), 1u);
    EXPECT_EQ(tips->front().seq, 2u);
    auto last = (*s)->NextBlock(tips->front().stream, 1);
    ASSERT_TRUE(last.ok() && last->has_value());
    EXPECT_EQ(tips->front().signature, BlockSignature(**last)) << "from version " << version;
    // A dictionary of version 5 has its digest computed (the SHA-256 of its bytes, 32 of them).
    EXPECT_EQ(Count(**s, "SELECT count(*) FROM record_dicts WHERE length(digest) = 32"),
              version == 5 ? 1 : 0);
    EXPECT_EQ(IndexRows(**s), entries) << "from version " << version;
    EXPECT_EQ(Count(**s,
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE "
                    "'records_%'"),
              0)
        << "no index on records is left, from version " << version;
    EXPECT_EQ(KeyRows(**s),
              (std::vector<std::string>{"1 042021:1 042021:1", "1 042021:2 042021:2"}));
    EXPECT_EQ(Count(**s,
                    "SELECT count(*) FROM pragma_table_info('records') WHERE name IN "
                    "('idx_text', 'idx_num', 'idx_ref', 'idx_lookup')"),
              0);
    EXPECT_EQ(Field(**s, "042021:1", 2), "v");
    PutString(**s, "042021:1", 2, "w");  // entries follow the record
    EXPECT_EQ(Count(**s, "SELECT count(*) FROM record_index WHERE kind = 1"), 1);
    // The write read the record's clock in the older form: it superseded "v", no conflict.
    EXPECT_EQ(Field(**s, "042021:1", 2), "w");
    EXPECT_EQ(Count(**s, "SELECT count(*) FROM siblings"), 0);
    EXPECT_EQ(Count(**s, "SELECT count(*) FROM records WHERE substr(clock, 1, 1) = x'02'"), 1);
    PutString(**s, "042021:3", 2, "n");  // a new record's key follows it
    EXPECT_EQ(KeyRows(**s).size(), 3u);
    EXPECT_EQ(testing::DoctorProblems(**s, dir), std::vector<std::string>{});
  }
  std::filesystem::remove_all(dir);
}

TEST(Store, ForgedOrUntrustedBlocksAreRejected) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock);
  PutString(*a, "042021:1", 2, "x");
  auto blocks = testing::AllBlocks(*a);
  ASSERT_EQ(blocks.size(), 1u);
  const std::string blk = blocks[0];
  std::string empty = Hash(*b);
  // Unknown origin.
  EXPECT_FALSE(b->ApplyBlock(blk, nullptr).ok());
  // A relay that claims another key for the origin.
  KeyLookup wrong = [](const std::string&) { return SigningKey::Generate().public_key(); };
  EXPECT_FALSE(b->ApplyBlock(blk, wrong).ok());
  // A flipped byte in the payload.
  std::string forged = blk;
  forged[forged.size() - 70] ^= 1;
  EXPECT_FALSE(b->ApplyBlock(forged, KeysOf({a.get()})).ok());
  EXPECT_EQ(Hash(*b), empty);
  EXPECT_TRUE(b->Vector()->empty());
}

TEST(Store, BlocksOutsideTheOriginsWriteScopeAreRejected) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-partner", &clock);
  auto b = NewStore("042021-honcho", &clock);
  PutString(*a, "042021:1", 2, "x");
  auto blocks = testing::AllBlocks(*a);
  ASSERT_EQ(blocks.size(), 1u);
  const std::string blk = blocks[0];
  WriteScopeCheck read_only = [](const std::string& inc, const std::string&) {
    return inc != "042021-partner#1";
  };
  Status st = b->ApplyBlock(blk, KeysOf({a.get()}), read_only);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no write scope"), std::string::npos) << st.message();
  EXPECT_TRUE(b->Vector()->empty());
  EXPECT_TRUE(b->ApplyBlock(blk, KeysOf({a.get()}), nullptr).ok());
}

TEST(Store, ConcurrentWritesMakeAConflictUntilResolved) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock);
  auto keys = KeysOf({a.get(), b.get()});
  PutString(*a, "042021:1", 2, "佐藤");
  Pull(*b, *a, keys);
  clock.Advance(10);
  PutString(*a, "042021:1", 2, "斉藤");
  clock.Advance(10);
  PutString(*b, "042021:1", 2, "齋藤");  // newer: shown everywhere
  Pull(*a, *b, keys);
  Pull(*b, *a, keys);
  EXPECT_EQ(Hash(*a), Hash(*b));
  EXPECT_EQ(Field(*a, "042021:1", 2), "齋藤");
  EXPECT_EQ(Field(*b, "042021:1", 2), "齋藤");
  auto ca = a->ListConflicts();
  auto cb = b->ListConflicts();
  ASSERT_TRUE(ca.ok());
  ASSERT_EQ(ca->size(), 1u);
  ASSERT_EQ(cb->size(), 1u);
  EXPECT_EQ((*ca)[0].id, (*cb)[0].id);
  EXPECT_EQ((*ca)[0].other.value, StringField(2, "斉藤"));
  EXPECT_EQ((*ca)[0].other.dot.incarnation, "042021-honcho#1");

  // An ordinary write that names both dots resolves it, everywhere.
  const Conflict c = (*ca)[0];
  ASSERT_TRUE(a->BeginWrite("officer").ok());
  ASSERT_TRUE(a->Put(c.other.scope, kEntity, c.key, {{c.field, c.other.value}}, v1::OP_SOURCE_USER,
                     {{c.field, c.other.dot}})
                  .ok());
  ASSERT_TRUE(a->CommitWrite().ok());
  Pull(*b, *a, keys);
  EXPECT_TRUE(a->ListConflicts()->empty());
  EXPECT_TRUE(b->ListConflicts()->empty());
  EXPECT_EQ(Field(*b, "042021:1", 2), "斉藤");
  EXPECT_EQ(Hash(*a), Hash(*b));
}

// A settled conflict is found again by its id in the op-log: the value it set aside (written
// with a new record, here), and the write that settled it, its author and time; on both nodes.
TEST(Store, ASettledConflictIsFoundByItsId) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock);
  auto keys = KeysOf({a.get(), b.get()});
  PutString(*a, "042021:1", 2, "本庁");  // each a new record: no causal context
  clock.Advance(10);
  PutString(*b, "042021:1", 2, "支所");
  Pull(*a, *b, keys);
  Pull(*b, *a, keys);
  auto open = a->ListConflicts();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);
  const Conflict c = (*open)[0];
  auto before = a->FindSettlement(c.id);
  ASSERT_TRUE(before.ok()) << before.status().message();
  EXPECT_FALSE(*before) << "an open conflict is settled by no write";

  clock.Advance(10);
  ASSERT_TRUE(a->BeginWrite("officer").ok());
  ASSERT_TRUE(a->Put(c.other.scope, kEntity, c.key, {{c.field, StringField(2, "本庁で確認")}},
                     v1::OP_SOURCE_USER, {{c.field, c.other.dot}, {c.field, c.shown.dot}})
                  .ok());
  ASSERT_TRUE(a->CommitWrite().ok());
  Pull(*b, *a, keys);
  ASSERT_TRUE(b->ListConflicts()->empty());
  for (Store* s : {a.get(), b.get()}) {
    auto found = s->FindSettlement(c.id);
    ASSERT_TRUE(found.ok()) << found.status().message();
    ASSERT_TRUE(*found);
    const Store::Settlement& settled = **found;
    EXPECT_EQ(settled.entity, kEntity);
    EXPECT_EQ(settled.key, "042021:1");
    EXPECT_EQ(settled.field, 2u);
    EXPECT_EQ(settled.other.dot, c.other.dot);
    EXPECT_TRUE(settled.other_held);
    EXPECT_EQ(settled.other.value, StringField(2, "本庁"));
    EXPECT_EQ(settled.other.hlc, c.other.hlc);
    EXPECT_EQ(settled.settled.dot.incarnation, "042021-honcho#1");
    EXPECT_EQ(settled.settled.value, StringField(2, "本庁で確認"));
    EXPECT_GT(settled.settled.hlc, c.shown.hlc);
    EXPECT_EQ(settled.author, "officer");
  }
  for (const char* id : {"0123456789abcdef", "not an id", ""}) {
    auto none = a->FindSettlement(id);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(*none) << id;
  }
}

// A settling write may reach a node before the write of the value it set aside: found all the
// same, that value said not to be held yet, until it comes.
TEST(Store, ASettlementIsFoundBeforeTheValueItSetAside) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock);
  auto c = NewStore("042021-hub", &clock);
  auto keys = KeysOf({a.get(), b.get(), c.get()});
  PutString(*b, "042021:1", 2, "支所");  // older: set aside
  clock.Advance(10);
  PutString(*a, "042021:1", 2, "本庁");
  Pull(*a, *b, keys);
  auto open = a->ListConflicts();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);
  const Conflict conflict = (*open)[0];
  ASSERT_EQ(conflict.other.dot.incarnation, "042021-shisho#1");
  clock.Advance(10);
  ASSERT_TRUE(a->BeginWrite("officer").ok());
  ASSERT_TRUE(a->Put(conflict.shown.scope, kEntity, conflict.key,
                     {{conflict.field, conflict.shown.value}}, v1::OP_SOURCE_USER,
                     {{conflict.field, conflict.other.dot}, {conflict.field, conflict.shown.dot}})
                  .ok());
  ASSERT_TRUE(a->CommitWrite().ok());
  // C takes A's stream only.
  ASSERT_TRUE(a->ReadBlocks(
                   {}, [](const StreamId& s) { return s.incarnation == "042021-honcho#1"; },
                   [&](std::string_view x) { return c->ApplyBlock(x, keys); })
                  .ok());
  auto early = c->FindSettlement(conflict.id);
  ASSERT_TRUE(early.ok()) << early.status().message();
  ASSERT_TRUE(*early);
  EXPECT_FALSE((*early)->other_held);
  EXPECT_EQ((*early)->other.dot, conflict.other.dot);
  EXPECT_EQ((*early)->settled.value, StringField(2, "本庁"));
  EXPECT_EQ((*early)->author, "officer");
  Pull(*c, *b, keys);
  auto late = c->FindSettlement(conflict.id);
  ASSERT_TRUE(late.ok() && *late);
  EXPECT_TRUE((*late)->other_held);
  EXPECT_EQ((*late)->other.value, StringField(2, "支所"));
  EXPECT_EQ((*late)->other.hlc, conflict.other.hlc);
  EXPECT_TRUE(c->ListConflicts()->empty());
  EXPECT_EQ(Hash(*c), Hash(*a));
}

TEST(Store, ConcurrentWritesOfOneValueAreNoConflict) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock);
  auto keys = KeysOf({a.get(), b.get()});
  PutString(*a, "042021:1", 2, "同じ");
  PutString(*b, "042021:1", 2, "同じ");
  Pull(*a, *b, keys);
  Pull(*b, *a, keys);
  EXPECT_TRUE(a->ListConflicts()->empty());
  EXPECT_EQ(Hash(*a), Hash(*b));
  // A later write on one side overwrites both equal values: still no conflict after sync.
  PutString(*a, "042021:1", 2, "次");
  Pull(*b, *a, keys);
  EXPECT_TRUE(b->ListConflicts()->empty());
  EXPECT_EQ(Field(*b, "042021:1", 2), "次");
}

TEST(Store, AWriteArrivingAfterItsSuccessorIsDead) {
  // A writes v1; B learns it and overwrites with v2; C hears B before A.
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock);
  auto c = NewStore("042021-hub", &clock);
  auto keys = KeysOf({a.get(), b.get(), c.get()});
  PutString(*a, "042021:1", 2, "v1");
  Pull(*b, *a, keys);
  clock.Set(900'000);  // B's clock is behind: its overwrite carries a smaller wall time
  PutString(*b, "042021:1", 2, "v2");
  // C takes only B's own stream first.
  std::vector<std::string> from_b;
  ASSERT_TRUE(b->ReadBlocks(
                   {}, [](const StreamId& s) { return s.incarnation == "042021-shisho#1"; },
                   [&](std::string_view x) {
                     from_b.emplace_back(x);
                     return Status::Ok();
                   })
                  .ok());
  for (const auto& x : from_b) ASSERT_TRUE(c->ApplyBlock(x, keys).ok());
  EXPECT_EQ(Field(*c, "042021:1", 2), "v2");
  Pull(*c, *a, keys);
  EXPECT_EQ(Field(*c, "042021:1", 2), "v2");
  EXPECT_TRUE(c->ListConflicts()->empty());
  EXPECT_EQ(Hash(*c), Hash(*b));
}

TEST(Store, UnknownFieldsSurviveMergeAndRelay) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock);
  auto c = NewStore("042021-hub", &clock);
  auto keys = KeysOf({a.get(), b.get(), c.get()});
  // Field 99 is unknown to this version's Resident message: a newer writer's field.
  std::string unknown = StringField(99, "from a newer version");
  ASSERT_TRUE(a->BeginWrite("test").ok());
  ASSERT_TRUE(
      a->Put("042021", kEntity, "042021:1", {{2, StringField(2, "名前")}, {99, unknown}}).ok());
  ASSERT_TRUE(a->CommitWrite().ok());
  Pull(*b, *a, keys);
  PutString(*b, "042021:1", 2, "別名");  // B edits a known field
  Pull(*c, *b, keys);                    // relay: C hears everything through B
  EXPECT_EQ(Field(*c, "042021:1", 99), "from a newer version");
  EXPECT_EQ(Field(*c, "042021:1", 2), "別名");
  EXPECT_EQ(Hash(*c), Hash(*b));
}

TEST(Store, EventsAreStoredAsIs) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  auto b = NewStore("042021-shisho", &clock);
  auto keys = KeysOf({a.get(), b.get()});
  ASSERT_TRUE(a->BeginWrite("test").ok());
  ASSERT_TRUE(a->AppendEvent("042021", 7, "stay-1", "check-in").ok());
  ASSERT_TRUE(a->AppendEvent("042021", 7, "stay-1", "check-out").ok());
  ASSERT_TRUE(a->CommitWrite().ok());
  Pull(*b, *a, keys);
  auto n = b->db().PrepareOnce("SELECT count(*) FROM events WHERE key = 'stay-1'");
  ASSERT_TRUE(n.ok());
  n->Step();
  EXPECT_EQ(n->Int(0), 2);
  EXPECT_EQ(Hash(*a), Hash(*b));
}

TEST(Store, RegisterBaseIsKeptWhenANodeEditsARegisterValue) {
  ManualClock clock(1'000'000);
  auto a = NewStore("042021-honcho", &clock);
  PutString(*a, "042021:1", 8, "旧住所", v1::OP_SOURCE_REGISTER);
  EXPECT_TRUE(a->GetRecord(kEntity, "042021:1")->value().FromRegister(8));
  PutString(*a, "042021:1", 8, "訂正住所");
  EXPECT_FALSE(a->GetRecord(kEntity, "042021:1")->value().FromRegister(8));
  auto base = a->GetRegisterBase(kEntity, "042021:1", 8);
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE(base->has_value());
  EXPECT_EQ(**base, StringField(8, "旧住所"));
  PutString(*a, "042021:1", 8, "新住所", v1::OP_SOURCE_REGISTER);  // the register moved on
  EXPECT_FALSE(a->GetRegisterBase(kEntity, "042021:1", 8)->has_value());
}

// An in-memory store whose bulk writes sort their index entries in a run every few records.
std::unique_ptr<Store> SpillingStore(ManualClock* clock) {
  Store::Options o;
  o.clock = clock;
  o.indexer = testing::TestIndexer;
  o.index_build_bytes = 100;
  auto opened = Store::Open(":memory:", o);
  EXPECT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_TRUE((*opened)->SetIdentity({"042021-honcho", 1, SigningKey::Generate()}).ok());
  return std::move(opened).value();
}

// A bulk write sorts its index entries in runs on disk, in TMPDIR (as other tools honour it)
// or /tmp; a run is never left behind, and a directory it cannot use is named.
TEST(Store, ABulkWriteSortsItsRunsInTmpdir) {
  ManualClock clock(1'000'000);
  std::unique_ptr<Store> opened = SpillingStore(&clock);
  Store& s = *opened;
  auto dir = testing::FreshDir("bosai-tmpdir-");
  const char* saved = std::getenv("TMPDIR");
  const std::string restore = saved ? saved : "";
  auto bulk = [&s](const std::string& prefix) {
    Status st = s.BeginWrite("test");
    if (st.ok()) st = s.BeginBulk();
    for (int i = 0; st.ok() && i < 50; ++i) {
      const std::string key = fmt::format("042021:{}{:03}", prefix, i);
      st = s.PutNew(1, key, {{"042021", StringField(2, key)}}, v1::OP_SOURCE_REGISTER);
    }
    if (st.ok()) st = s.EndBulk();
    if (st.ok()) return s.CommitWrite();
    s.AbortWrite();
    return st;
  };

  const std::string missing = (dir / "missing").string();
  ::setenv("TMPDIR", missing.c_str(), 1);
  Status st = bulk("a");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("creating a temporary file in " + missing), std::string::npos)
      << st.message();
  EXPECT_EQ(*s.CountRecords(1), 0u);

  ::setenv("TMPDIR", dir.c_str(), 1);
  st = bulk("b");
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(*s.CountRecords(1), 50u);
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "runs are unlinked as soon as they are made";
  if (saved) {
    ::setenv("TMPDIR", restore.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  std::filesystem::remove_all(dir);
}

// A record known to be new (a first import) is written by PutNew from its fields' encodings:
// the rows, index entries and op-log are those the merge makes of the same writes, in bulk or
// not; a record that exists, a field in two scopes and malformed fields are refused.
// A bulk write's keys go to record_keys at its end, sorted (here through many runs on disk),
// beside the keys already there; a key put twice in one bulk write fails its end.
TEST(Store, ABulkWriteInsertsItsKeysInOrderAtItsEnd) {
  ManualClock clock(1'000'000);
  std::unique_ptr<Store> opened = SpillingStore(&clock);
  Store& s = *opened;
  PutString(s, "042021:k050", 2, "before");  // not bulk: the trigger keys it
  std::vector<std::pair<uint32_t, std::string>> keys;
  for (int i = 0; i < 100; ++i) {
    if (i != 50) keys.emplace_back(1, fmt::format("042021:k{:03}", i));
    keys.emplace_back(2, fmt::format("042021:h{:03}", i));
  }
  std::vector<std::pair<uint32_t, std::string>> shuffled = keys;
  std::mt19937 rng(7);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  ASSERT_TRUE(s.BeginWrite("test").ok());
  ASSERT_TRUE(s.BeginBulk().ok());
  for (const auto& [entity, key] : shuffled) {
    ASSERT_TRUE(
        s.PutNew(entity, key, {{"042021", StringField(2, key)}}, v1::OP_SOURCE_REGISTER).ok());
  }
  ASSERT_TRUE(s.EndBulk().ok());
  ASSERT_TRUE(s.CommitWrite().ok());
  keys.emplace_back(1, "042021:k050");
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> expected;
  for (const auto& [entity, key] : keys)
    expected.push_back(fmt::format("{} {} {}", entity, key, key));
  EXPECT_EQ(KeyRows(s), expected);
  EXPECT_EQ(*s.CountRecords(1), 100u);
  EXPECT_EQ(*s.CountRecords(2), 100u);
  EXPECT_EQ(**s.GetBody(2, "042021:h042"), StringField(2, "042021:h042"));
  EXPECT_EQ(**s.GetBody(1, "042021:k050"), StringField(2, "before"));
  auto dir = testing::FreshDir("bosai-bulk-keys-");
  EXPECT_EQ(testing::DoctorProblems(s, dir), std::vector<std::string>{});

  const std::string before = Hash(s);
  ASSERT_TRUE(s.BeginWrite("test").ok());
  ASSERT_TRUE(s.BeginBulk().ok());
  for (int i = 0; i < 40; ++i) {  // the repeat lands in another run than the first
    const std::string key = fmt::format("042021:n{:03}", i % 39);
    ASSERT_TRUE(s.PutNew(1, key, {{"042021", StringField(2, "n")}}, v1::OP_SOURCE_REGISTER).ok());
  }
  Status twice = s.EndBulk();
  EXPECT_NE(twice.message().find("wrote a record twice"), std::string::npos) << twice.message();
  s.AbortWrite();
  EXPECT_EQ(Hash(s), before);
  EXPECT_EQ(KeyRows(s), expected);
  std::filesystem::remove_all(dir);
}

TEST(Store, ABulkWriteStoresBodiesCompressedAgainstADictionary) {
  ManualClock clock(1'000'000);
  auto direct = NewStore("042021-honcho", &clock);
  auto merged = NewStore("042021-honcho", &clock);
  auto fields = [](int i) {
    return StringField(2, fmt::format("山下　明{}", i % 13)) +
           StringField(
               5, fmt::format("宮城県石巻市中里{}丁目{}番{}号", i % 7 + 1, i % 30 + 1, i % 9 + 1));
  };
  // A bulk write too small for a dictionary stores its bodies as they are.
  auto bulk = [&](Store& s, int from, int to) {
    ASSERT_TRUE(s.BeginWrite("test").ok());
    ASSERT_TRUE(s.BeginBulk().ok());
    for (int i = from; i < to; ++i) {
      Status st = s.PutNew(kEntity, fmt::format("042021:{:05}", i), {{"042021", fields(i)}},
                           v1::OP_SOURCE_REGISTER);
      ASSERT_TRUE(st.ok()) << st.message();
    }
    ASSERT_TRUE(s.EndBulk().ok());
  };
  bulk(*direct, 0, 100);
  ASSERT_TRUE(direct->CommitWrite().ok());
  EXPECT_EQ(Count(*direct, "SELECT count(*) FROM record_dicts"), 0);
  {  // One rolled back makes no dictionary either, nor does it leave one to the next write.
    auto rolled = NewStore("042021-hinan", &clock);
    bulk(*rolled, 100, 3000);
    rolled->AbortWrite();
    EXPECT_EQ(Count(*rolled, "SELECT count(*) FROM record_dicts"), 0);
    PutString(*rolled, "042021:00001", 3, "after a rollback");
    EXPECT_EQ(Count(*rolled, "SELECT count(*) FROM records WHERE substr(body, 1, 1) = x'01'"), 0);
    EXPECT_EQ(Field(*rolled, "042021:00001", 3), "after a rollback");
  }

  bulk(*direct, 100, 3000);
  ASSERT_TRUE(direct->CommitWrite().ok());
  EXPECT_EQ(Count(*direct, "SELECT count(*) FROM record_dicts"), 1);
  EXPECT_EQ(Count(*direct, "SELECT count(*) FROM records WHERE substr(body, 1, 1) = x'01'"), 2900);

  // The same records merged op by op are stored as they are: the same rows and state.
  ASSERT_TRUE(merged->BeginWrite("test").ok());
  for (int i = 0; i < 3000; ++i) {
    Status st = merged->PutScoped(kEntity, fmt::format("042021:{:05}", i),
                                  {{"042021", *SplitFields(fields(i))}}, v1::OP_SOURCE_REGISTER);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  ASSERT_TRUE(merged->CommitWrite().ok());
  EXPECT_EQ(Count(*merged, "SELECT count(*) FROM records WHERE substr(body, 1, 1) = x'01'"), 0);
  EXPECT_EQ(RecordRows(*direct), RecordRows(*merged));
  EXPECT_EQ(Hash(*direct), Hash(*merged));
  auto dump = [](Store& s) {
    std::vector<std::string> out;
    Status st = s.DumpState([&](const Store::StateRow& row) {
      out.push_back(fmt::format("{} {}", row.section, fmt::join(row.columns, " ")));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return out;
  };
  const std::vector<std::string> dumped = dump(*direct);
  ASSERT_EQ(dumped.size(), 3000u);
  EXPECT_EQ(dumped[7], "record 1 042021:00007 " + ToHex(fields(7)));
  EXPECT_EQ(dump(*merged), dumped);
  const int64_t stored = Count(*direct, "SELECT sum(length(body)) FROM records");
  EXPECT_LT(stored * 10, Count(*merged, "SELECT sum(length(body)) FROM records") * 7);

  // Later writes, updates and new records, are compressed with the same dictionary; reads,
  // index entries and the doctor see their bodies.
  PutString(*direct, "042021:02000", 2, "佐藤　花子");
  PutString(*direct, "042021:09999", 5, "宮城県石巻市中里1丁目1番1号");
  EXPECT_EQ(Field(*direct, "042021:02000", 2), "佐藤　花子");
  EXPECT_EQ(Field(*direct, "042021:09999", 5), "宮城県石巻市中里1丁目1番1号");
  EXPECT_EQ(Count(*direct,
                  "SELECT count(*) FROM records WHERE substr(body, 1, 1) = x'01' AND key IN "
                  "('042021:02000', '042021:09999')"),
            2);
  auto dir = testing::FreshDir("bosai-codec-");
  EXPECT_EQ(testing::DoctorProblems(*direct, dir), std::vector<std::string>{});

  // A damaged compressed body is named, not read as another value.
  ASSERT_TRUE(direct->db()
                  .Exec("UPDATE records SET body = substr(body, 1, length(body) - 2) WHERE key = "
                        "'042021:00500'")
                  .ok());
  auto body = direct->GetBody(kEntity, "042021:00500");
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.status().message().find("does not decompress"), std::string::npos)
      << body.status().message();
  auto report = direct->Doctor((dir / "scratch.db").string());
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_FALSE(report->ok());
  EXPECT_NE(report->problems[0].find("cannot be read"), std::string::npos) << report->problems[0];
  EXPECT_TRUE(std::any_of(report->problems.begin(), report->problems.end(), [](const auto& p) {
    return p == "record 042021:00500: a compressed record body does not decompress";
  })) << report->problems.back();
  std::filesystem::remove_all(dir);
}

// A damaged dictionary (one byte changed) is named when it is loaded: it would otherwise decode
// every body compressed against it into other text, without an error. A damaged number among
// the store's settings is an error that names it, not an exception.
TEST(Store, ADamagedDictionaryOrSettingIsNamed) {
  ManualClock clock(1'000'000);
  auto dir = testing::FreshDir("bosai-dict-");
  const std::string path = (dir / "bosai.db").string();
  {
    auto s = Store::Open(path, testing::TestOptions(&clock));
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->SetIdentity({"042021-honcho", 1, SigningKey::Generate()}).ok());
    ASSERT_TRUE((*s)->BeginWrite("test").ok());
    ASSERT_TRUE((*s)->BeginBulk().ok());
    for (int i = 0; i < 1500; ++i) {
      ASSERT_TRUE((*s)->PutNew(kEntity, fmt::format("042021:{:05}", i),
                               {{"042021", StringField(2, fmt::format("宮城県石巻市{}", i))}},
                               v1::OP_SOURCE_REGISTER)
                      .ok());
    }
    ASSERT_TRUE((*s)->EndBulk().ok());
    ASSERT_TRUE((*s)->CommitWrite().ok());
    ASSERT_EQ(Count(**s, "SELECT count(*) FROM records WHERE substr(body, 1, 1) = x'01'"), 1500);
    EXPECT_EQ(Field(**s, "042021:00042", 2), "宮城県石巻市42");
    ASSERT_TRUE((*s)->db()
                    .Exec("UPDATE record_dicts SET data = substr(data, 1, 99) || "
                          "char(unicode(substr(data, 100, 1)) + 1) || substr(data, 101)")
                    .ok());
  }
  auto s = Store::Open(path, testing::TestOptions(&clock));
  ASSERT_TRUE(s.ok());
  const std::string damaged =
      "record dictionary 1 is damaged (its bytes do not match their digest)";
  auto body = (*s)->GetBody(kEntity, "042021:00042");
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().message(), "record 042021:00042: " + damaged);
  // So do queries that decode bodies in SQL (record_body), the state hash among them.
  auto hash = (*s)->StateHash();
  ASSERT_FALSE(hash.ok());
  EXPECT_EQ(hash.status().code(), Status::Code::kCorruption);
  EXPECT_EQ(hash.status().message(), "record 042021:00000: " + damaged);
  // SQLite reports it as SQLITE_CORRUPT, yet the file itself is whole: no rebuild is called for.
  EXPECT_FALSE(IsDamagedFile(hash.status()));
  // The doctor names the first records it cannot read and counts the rest.
  auto report = (*s)->Doctor((dir / "scratch.db").string());
  ASSERT_TRUE(report.ok()) << report.status().message();
  std::vector<std::string> named;
  for (const auto& p : report->problems) {
    if (p.find("record 042021:") == 0) named.push_back(p);
  }
  ASSERT_EQ(named.size(), 20u);
  EXPECT_EQ(named[0], "record 042021:00000: " + damaged);
  EXPECT_EQ(std::count(report->problems.begin(), report->problems.end(),
                       "1480 more records cannot be read"),
            1);

  ASSERT_TRUE((*s)->SetMeta("hlc", "12x").ok());
  s->reset();
  auto again = Store::Open(path, testing::TestOptions(&clock));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(), path + ": meta hlc is damaged: \"12x\" is not a number");
  std::filesystem::remove_all(dir);
}

TEST(Store, AStoreGrownByOrdinaryWritesMakesItsDictionaryToo) {
  ManualClock clock(1'000'000);
  auto s = NewStore("042021-honcho", &clock);
  const std::string address = "宮城県石巻市中里5丁目24番1号";
  for (int batch = 0; batch < 2; ++batch) {  // batches of a small first import or a re-import
    ASSERT_TRUE(s->BeginWrite("test").ok());
    for (int i = batch * 600; i < (batch + 1) * 600; ++i) {
      FieldMap fields = {{2, StringField(2, fmt::format("山下　明{}", i))},
                         {5, StringField(5, address)}};
      ASSERT_TRUE(
          s->Put("042021", kEntity, fmt::format("042021:{:05}", i), fields, v1::OP_SOURCE_REGISTER)
              .ok());
    }
    ASSERT_TRUE(s->CommitWrite().ok());
    EXPECT_EQ(Count(*s, "SELECT count(*) FROM record_dicts"), 0)
        << "fewer than 1,024 records at its start";
  }
  // The next write starts with 1,200 records: it makes the dictionary from their latest bodies
  // and compresses what it writes; the records written before stay as they are, readable alike.
  PutString(*s, "042021:00007", 5, "宮城県石巻市中里5丁目24番2号");
  PutString(*s, "042021:09999", 2, "山下　新");
  EXPECT_EQ(Count(*s, "SELECT count(*) FROM record_dicts"), 1);
  // (A body too short to shrink, as 042021:09999's, is stored as it is.)
  EXPECT_EQ(Count(*s, "SELECT count(*) FROM records WHERE substr(body, 1, 1) = x'01'"), 1);
  EXPECT_EQ(Count(*s,
                  "SELECT count(*) FROM records WHERE substr(body, 1, 1) = x'01' AND key = "
                  "'042021:00007'"),
            1);
  EXPECT_EQ(Field(*s, "042021:00007", 5), "宮城県石巻市中里5丁目24番2号");
  EXPECT_EQ(Field(*s, "042021:00007", 2), "山下　明7");
  EXPECT_EQ(Field(*s, "042021:09999", 2), "山下　新");
  EXPECT_EQ(Field(*s, "042021:00008", 5), address);
  auto dir = testing::FreshDir("bosai-codec-grown-");
  EXPECT_EQ(testing::DoctorProblems(*s, dir), std::vector<std::string>{});
  std::filesystem::remove_all(dir);
}

TEST(Store, PutNewStoresWhatTheMergeStores) {
  auto rows = [](Store& s) {
    std::vector<std::string> out;
    Stmt& q = s.db().Prepare(
        "SELECT id, entity, key, hex(record_body(body)), hex(clock), idx_text2 FROM records "
        "ORDER BY id");
    while (q.Step()) {
      out.push_back(fmt::format("{} {} {} {} {} {}", q.Int(0), q.Int(1), q.Text(2), q.Text(3),
                                q.Text(4), q.Text(5)));
    }
    q.Reset();
    Stmt& ix = s.db().Prepare("SELECT kind, hex(value), record FROM record_index ORDER BY 1, 2, 3");
    while (ix.Step()) out.push_back(fmt::format("{} {} {}", ix.Int(0), ix.Text(1), ix.Int(2)));
    ix.Reset();
    return out;
  };
  auto dir = testing::FreshDir("bosai-putnew-");
  const std::string f2 = StringField(2, "佐藤　花子");
  const std::string f5 = StringField(5, "宮城県石巻市穀町14番1号");
  const std::string f9 = StringField(9, "sealed-my-number");
  for (bool bulk : {false, true}) {
    SCOPED_TRACE(bulk ? "bulk" : "not bulk");
    ManualClock clock(1'000'000);
    auto merged = NewStore("042021-honcho", &clock);
    auto direct = NewStore("042021-honcho", &clock);
    ASSERT_TRUE(merged->BeginWrite("test").ok());
    ASSERT_TRUE(direct->BeginWrite("test").ok());
    if (bulk) {
      ASSERT_TRUE(direct->BeginBulk().ok());
    }
    for (int i = 1; i <= 3; ++i) {
      const std::string key = fmt::format("042021:{}", i);
      ASSERT_TRUE(merged
                      ->PutScoped(kEntity, key,
                                  {{"042021", {{2, f2}, {5, f5}}}, {"042021/mynumber", {{9, f9}}}},
                                  v1::OP_SOURCE_REGISTER)
                      .ok());
      Status st = direct->PutNew(kEntity, key, {{"042021", f2 + f5}, {"042021/mynumber", f9}},
                                 v1::OP_SOURCE_REGISTER);
      ASSERT_TRUE(st.ok()) << st.message();
    }
    if (bulk) {
      ASSERT_TRUE(direct->EndBulk().ok());
    }
    ASSERT_TRUE(merged->CommitWrite().ok());
    ASSERT_TRUE(direct->CommitWrite().ok());
    EXPECT_EQ(rows(*direct), rows(*merged));
    EXPECT_EQ(rows(*direct).size(), 3u + 3 * 3);  // records, then three index entries each
    EXPECT_EQ(Hash(*direct), Hash(*merged));
    EXPECT_EQ(testing::AllBlocks(*direct).size(), testing::AllBlocks(*merged).size());
    EXPECT_EQ(*direct->Vector(), *merged->Vector());
    EXPECT_EQ(testing::DoctorProblems(*direct, dir), std::vector<std::string>{});

    // The same key again: refused at once, or by the bulk write's end.
    ASSERT_TRUE(direct->BeginWrite("test").ok());
    if (bulk) {
      ASSERT_TRUE(direct->BeginBulk().ok());
    }
    Status again = direct->PutNew(kEntity, "042021:2", {{"042021", f2}}, v1::OP_SOURCE_REGISTER);
    if (bulk) {
      ASSERT_TRUE(again.ok()) << again.message();
      again = direct->EndBulk();
    }
    EXPECT_FALSE(again.ok());
    EXPECT_NE(again.message().find(bulk ? "twice" : "already exists"), std::string::npos)
        << again.message();
    direct->AbortWrite();
    EXPECT_EQ(Hash(*direct), Hash(*merged));
  }
  ManualClock clock(1'000'000);
  auto s = NewStore("042021-honcho", &clock);
  ASSERT_TRUE(s->BeginWrite("test").ok());
  Status twice = s->PutNew(kEntity, "042021:1", {{"042021", f2}, {"042021/mynumber", f2}},
                           v1::OP_SOURCE_REGISTER);
  EXPECT_EQ(twice.code(), Status::Code::kInvalidArgument) << twice.message();
  EXPECT_NE(twice.message().find("field 2 is written twice"), std::string::npos);
  Status malformed =
      s->PutNew(kEntity, "042021:1", {{"042021", f2.substr(0, 5)}}, v1::OP_SOURCE_REGISTER);
  EXPECT_EQ(malformed.code(), Status::Code::kInvalidArgument) << malformed.message();
  EXPECT_EQ(s->pending_ops(), 0u);
  s->AbortWrite();
  EXPECT_EQ(*s->CountRecords(kEntity), 0u);
  std::filesystem::remove_all(dir);
}

TEST(Store, DoctorPassesAndFindsDamage) {
  ManualClock clock(1'000'000);
  auto dir = std::filesystem::temp_directory_path() / ("bosai-doctor-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto a = NewStore("042021-honcho", &clock, 3);
  for (int i = 0; i < 10; ++i)
    PutString(*a, "042021:" + std::to_string(i % 4), 2, std::to_string(i));
  auto r = a->Doctor((dir / "scratch.db").string());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->ok()) << r->problems[0];
  EXPECT_EQ(r->ops, 10u);

  // A materialized value changed behind the op-log's back.
  ASSERT_TRUE(
      a->db().Exec("UPDATE records SET body = x'1201' || body WHERE key = '042021:1'").ok());
  r = a->Doctor((dir / "scratch.db").string());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok());

  // A block removed from the op-log.
  auto b = NewStore("042021-shisho", &clock, 3);
  for (int i = 0; i < 10; ++i) PutString(*b, "042021:" + std::to_string(i), 2, "x");
  ASSERT_TRUE(b->db().Exec("DELETE FROM blocks WHERE first_seq = 4").ok());
  r = b->Doctor((dir / "scratch.db").string());
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->ok());
  EXPECT_NE(r->problems[0].find("gap"), std::string::npos) << r->problems[0];
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bosai
