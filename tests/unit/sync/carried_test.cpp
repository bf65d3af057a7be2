// Blocks carried from elsewhere (a bundle's, a lost node's backup's), applied by ApplyCarried:
// into a store that holds no records yet they take the bulk path of a first sync, into one that
// does they are merged op by op; the state is the writer's either way. A refused block undoes
// everything, and leaves an empty store as it was: empty, and able to take them again.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "sync/bundle.h"
#include "sync/held.h"
#include "sync/trust.h"
#include "sync/trust_store.h"
#include "tests/unit/storage/test_util.h"
#include "tests/unit/sync/test_trust.h"

namespace bosai::sync {
namespace {

namespace fs = std::filesystem;
using bosai::testing::AllBlocks;
using bosai::testing::Hash;
using bosai::testing::StringField;

using testing::TestNode;

TEST(Carried, BlocksApplyWholeOrNotAtAllIntoAnEmptyStoreOrNot) {
  const fs::path dir = bosai::testing::FreshDir("bosai-carried-");
  auto root = CreateRoot("042021");
  ASSERT_TRUE(root.ok());
  const SigningKey self = SigningKey::Generate();
  testing::WriteKeys(dir, *root, "042021-honcho", self);

  ManualClock clock(1'000'000);
  auto writer = bosai::testing::NewStore("042021-shelter-01", &clock, /*block_ops=*/3);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(writer->BeginWrite("test").ok());
    for (int f = 2; f < 5; ++f) {
      ASSERT_TRUE(writer
                      ->Put("042021", 1, "042021:" + std::to_string(i % 4),
                            {{uint32_t(f), StringField(uint32_t(f), std::to_string(i))}})
                      .ok());
    }
    ASSERT_TRUE(writer->CommitWrite().ok());
  }
  const std::vector<std::string> blocks = AllBlocks(*writer);
  ASSERT_GT(blocks.size(), 4u);
  std::vector<std::string> damaged = blocks;
  damaged.back()[damaged.back().size() / 2] ^= 1;

  Store::Options o = bosai::testing::TestOptions(&clock);
  auto opened = Store::Open((dir / "bosai.db").string(), o);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Store& store = **opened;
  ASSERT_TRUE(store.SetIdentity({"042021-honcho", 1, self}).ok());
  auto trust = TrustStore::Load(store, (dir / "keys").string());
  ASSERT_TRUE(trust.ok()) << trust.status().message();
  ASSERT_TRUE((*trust)
                  ->Admit(*IssueNodeCertificate(
                      *root, TestNode("042021-shelter-01", writer->identity()->key)))
                  .ok());
  auto carry = [&](const std::vector<std::string>& given) {
    return ApplyCarried(
        store, **trust, "test",
        [&](const BlockSink& sink) {
          for (const auto& b : given) BOSAI_RETURN_IF_ERROR(sink(b));
          return Status::Ok();
        },
        1'000'000, kDefaultMaxOffsetMs);
  };
  const std::string empty = Hash(store);

  auto refused = carry(damaged);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().message().starts_with(fmt::format("block {}: ", blocks.size() - 1)))
      << refused.status().message();
  EXPECT_TRUE(store.Vector()->empty());
  EXPECT_EQ(Hash(store), empty);

  auto taken = carry(blocks);  // the bulk path: the store holds no records
  ASSERT_TRUE(taken.ok()) << taken.status().message();
  EXPECT_EQ(taken->blocks, blocks.size());
  EXPECT_EQ(taken->ops, 30u);
  EXPECT_EQ(Hash(store), Hash(*writer));
  EXPECT_EQ(*store.CountRecords(1), 4u);

  // More writes, carried into a store that holds records now: merged op by op.
  ASSERT_TRUE(writer->BeginWrite("test").ok());
  ASSERT_TRUE(writer->Put("042021", 1, "042021:9", {{2, StringField(2, "later")}}).ok());
  ASSERT_TRUE(writer->CommitWrite().ok());
  const std::vector<std::string> all = AllBlocks(*writer);
  std::vector<std::string> bad = all;
  bad.back()[bad.back().size() / 2] ^= 1;
  const std::string before = Hash(store);
  ASSERT_FALSE(carry(bad).ok());
  EXPECT_EQ(Hash(store), before);
  taken = carry(all);
  ASSERT_TRUE(taken.ok()) << taken.status().message();
  EXPECT_EQ(taken->ops, 1u);
  EXPECT_EQ(Hash(store), Hash(*writer));
  EXPECT_EQ(bosai::testing::DoctorProblems(store, dir), std::vector<std::string>{});

  trust->reset();
  opened->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bosai::sync
