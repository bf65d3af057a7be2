// Creating a data dir: an init that fails leaves the data dir as it found it, so that the next
// try succeeds (and an enrollment's requested key stays); a data dir that is not a whole node
// says what it lacks. A node whose machine's clock is behind its own warns, and keeps writing.
#include "node/node.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "bosai/v1/records.pb.h"
#include "node/enroll.h"
#include "tests/common/fresh_dir.h"

namespace bosai::node {
namespace {

namespace fs = std::filesystem;

class NodeInitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir(std::string("bosai-init-") +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Every path below DIR, relative to it.
  static std::set<std::string> Tree(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      out.insert(fs::relative(e.path(), dir).string());
    }
    return out;
  }
  static InitOptions Options(const fs::path& data) {
    InitOptions o;
    o.data_dir = data.string();
    o.node_id = "042021-honcho";
    o.municipality = "042021";
    return o;
  }

  fs::path dir_;
};

TEST_F(NodeInitTest, AFailedInitRemovesWhatItMade) {
  // A data dir that did not exist, and a root key that is not one: nothing is left.
  const fs::path data = dir_ / "data";
  std::ofstream(dir_ / "not-a-root.key") << "not a key\n";
  InitOptions o = Options(data);
  o.root_key = (dir_ / "not-a-root.key").string();
  auto failed = Node::Init(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_FALSE(fs::exists(data));

  // It fails after writing the node's key and certificates (a file it would write is there
  // already): those go, the file that was there stays.
  fs::create_directories(data / "keys");
  std::ofstream(data / "keys" / "root.crt") << "already here\n";
  failed = Node::Init(Options(data));
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("root.crt"), std::string::npos)
      << failed.status().message();
  EXPECT_EQ(Tree(data), (std::set<std::string>{"keys", "keys/root.crt"}));

  // Without it, the next init succeeds.
  fs::remove(data / "keys" / "root.crt");
  auto node = Node::Init(Options(data));
  ASSERT_TRUE(node.ok()) << node.status().message();
  EXPECT_EQ((*node)->node_id(), "042021-honcho");
  EXPECT_TRUE(fs::exists(data / "keys" / "node.key"));
  EXPECT_TRUE(fs::exists(data / "bosai.db"));
  node->reset();

  // A node whose database is lost is named as one, by every command and by init.
  fs::remove(data / "bosai.db");
  const std::string lost = "holds a node's keys but no database (bosai.db)";
  auto opened = Node::Open(data.string());
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find(lost), std::string::npos) << opened.status().message();
  auto again = Node::Init(Options(data));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find(lost), std::string::npos) << again.status().message();
}

TEST_F(NodeInitTest, AFailedEnrollmentKeepsTheRequestedKey) {
  const fs::path data = dir_ / "data";
  ASSERT_TRUE(
      WriteEnrollmentRequest(data.string(), "042021-shisho", (dir_ / "request").string()).ok());
  const std::set<std::string> requested = Tree(data);
  ASSERT_TRUE(requested.count("keys/node.key"));
  std::ofstream(dir_ / "enrollment") << "not an enrollment\n";
  InitOptions o;
  o.data_dir = data.string();
  o.enrollment = (dir_ / "enrollment").string();
  auto failed = Node::Init(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(Tree(data), requested);
  // Until it is enrolled, commands say what the data dir waits for.
  auto opened = Node::Open(data.string());
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("holds a requested node key: run `bosai init "
                                           "--enrollment FILE`"),
            std::string::npos)
      << opened.status().message();
}

// A machine whose clock was set back (a reset, a dead clock battery) behind the latest time the
// node stamped: the node warns, with both times, and keeps writing after that time.
TEST_F(NodeInitTest, AClockBehindTheNodesIsWarnedAboutAndWritesGoOn) {
  const fs::path data = dir_ / "data";
  {
    auto n = Node::Init(Options(data));
    ASSERT_TRUE(n.ok()) << n.status().message();
    EXPECT_EQ((*n)->ClockWarning(), std::nullopt);
  }
  auto reopen_with_latest = [&](int64_t ahead_ms) {
    {
      auto n = Node::Open(data.string());
      EXPECT_TRUE(n.ok());
      const int64_t latest = SystemClock::Get()->NowMillis() + ahead_ms;
      EXPECT_TRUE((*n)->store().SetMeta("hlc", std::to_string(HlcPack(latest, 0))).ok());
    }
    auto n = Node::Open(data.string());
    EXPECT_TRUE(n.ok()) << n.status().message();
    return std::move(n).value();
  };
  // Within the offset peers' clocks may have: no warning.
  EXPECT_EQ(reopen_with_latest(30'000)->ClockWarning(), std::nullopt);

  std::unique_ptr<Node> node = reopen_with_latest(3 * 86'400'000LL);
  std::optional<std::string> warning = node->ClockWarning();
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(warning->find("this machine's clock reads "), std::string::npos) << *warning;
  EXPECT_NE(warning->find(", 3 days behind the latest time this node has stamped or seen ("),
            std::string::npos)
      << *warning;
  EXPECT_NE(warning->find("set the machine's clock"), std::string::npos) << *warning;

  const uint64_t before = node->store().high_water();
  Store& store = node->store();
  ASSERT_TRUE(store.BeginWrite("os:test").ok());
  v1::Household household;
  household.set_address("石巻市穀町1-1");
  ASSERT_TRUE(store
                  .Put(node->scope(), v1::ENTITY_HOUSEHOLD, "042021:H1",
                       {{v1::Household::kAddressFieldNumber, household.SerializeAsString()}})
                  .ok());
  ASSERT_TRUE(store.CommitWrite().ok());
  EXPECT_GT(store.high_water(), before);
  EXPECT_EQ(HlcMillis(store.high_water()), HlcMillis(before));  // the counter advanced

  EXPECT_NE(reopen_with_latest(3 * 3'600'000LL)->ClockWarning()->find(", 3 hours behind"),
            std::string::npos);
  EXPECT_NE(reopen_with_latest(5 * 60'000LL)->ClockWarning()->find(", 5 minutes behind"),
            std::string::npos);
}

}  // namespace
}  // namespace bosai::node
