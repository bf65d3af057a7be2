// What one node trusts, as two processes on one data dir see it: a certificate one admits (a
// bundle imported, a lost node's backup taken in) is learned by the other (a running daemon),
// which then gives its key and sends it on; one refused is not learned.
#include "sync/trust_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "sync/trust.h"
#include "tests/common/fresh_dir.h"
#include "tests/unit/sync/test_trust.h"

namespace bosai::sync {
namespace {

namespace fs = std::filesystem;

using testing::TestNode;

TEST(TrustStore, ACertificateAnotherProcessAdmittedIsLearned) {
  const fs::path dir = bosai::testing::FreshDir("bosai-trust-store-");
  auto root = CreateRoot("042021");
  auto other_root = CreateRoot("042021");
  ASSERT_TRUE(root.ok() && other_root.ok());
  const SigningKey self = SigningKey::Generate(), lost = SigningKey::Generate(),
                   foreign = SigningKey::Generate();
  testing::WriteKeys(dir, *root, "042021-honcho", self);
  const std::string lost_pem = *IssueNodeCertificate(*root, TestNode("042021-shelter-01", lost));
  const std::string foreign_pem =
      *IssueNodeCertificate(*other_root, TestNode("042021-zeta", foreign));

  ManualClock clock(1'000'000);
  Store::Options o;
  o.clock = &clock;
  const std::string path = (dir / "bosai.db").string();
  auto cli_store = Store::Open(path, o), daemon_store = Store::Open(path, o);
  ASSERT_TRUE(cli_store.ok() && daemon_store.ok());
  auto daemon = TrustStore::Load(**daemon_store, (dir / "keys").string());
  auto cli = TrustStore::Load(**cli_store, (dir / "keys").string());
  ASSERT_TRUE(daemon.ok()) << daemon.status().message();
  ASSERT_TRUE(cli.ok()) << cli.status().message();
  auto learned = (*daemon)->LoadLearned();
  ASSERT_TRUE(learned.ok()) << learned.status().message();
  EXPECT_EQ(*learned, 0u) << "nothing new: its own certificate, which the other recorded too";

  ASSERT_TRUE((*cli)->Admit(lost_pem).ok());
  EXPECT_FALSE((*cli)->Admit(foreign_pem).ok());
  // Recorded by hand, as a store another node kept would hold it: refused here.
  Stmt& q = (*cli_store)
                ->db()
                .Prepare(
                    "INSERT INTO sync_certificates(node_id, root, pem) VALUES('042021-zeta', "
                    "'042021', ?)");
  ASSERT_TRUE(q.Bind(1, foreign_pem).Run().ok());
  EXPECT_EQ((*daemon)->keys()("042021-shelter-01#1"), std::nullopt);

  learned = (*daemon)->LoadLearned();
  ASSERT_TRUE(learned.ok()) << learned.status().message();
  EXPECT_EQ(*learned, 1u);
  EXPECT_EQ((*daemon)->keys()("042021-shelter-01#1"), lost.public_key());
  EXPECT_EQ((*daemon)->Find("042021-zeta"), nullptr);
  NodeCertificate another = TestNode("042021-shisho", SigningKey::Generate());
  auto sent = (*daemon)->CertificatesFor(another);
  EXPECT_NE(std::find(sent.begin(), sent.end(), lost_pem), sent.end())
      << "a learned certificate goes in Hello";
  learned = (*daemon)->LoadLearned();
  ASSERT_TRUE(learned.ok());
  EXPECT_EQ(*learned, 0u) << "learned once";

  daemon->reset();
  cli->reset();
  daemon_store->reset();
  cli_store->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bosai::sync
