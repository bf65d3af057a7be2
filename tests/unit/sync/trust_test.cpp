// Roots and node certificates: issue, verify, and refuse what a root may not grant.
#include "sync/trust.h"

#include <gtest/gtest.h>

namespace bosai::sync {
namespace {

NodeCertificate Node(const std::string& id, const SigningKey& key) {
  return {id, key.public_key(), "HONCHO", {{"042021", "042021/mynumber"}, {}}};
}

TEST(Trust, IssuesAndVerifiesNodeCertificates) {
  auto root = CreateRoot("042021");
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(*RootMunicipality(root->certificate_pem), "042021");
  SigningKey node_key = SigningKey::Generate();
  auto pem = IssueNodeCertificate(*root, Node("042021-honcho", node_key));
  ASSERT_TRUE(pem.ok()) << pem.status().message();
  auto cert = VerifyNodeCertificate(*pem, root->certificate_pem);
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  EXPECT_EQ(cert->node_id, "042021-honcho");
  EXPECT_EQ(cert->public_key, node_key.public_key());
  EXPECT_EQ(cert->issuer_code, "HONCHO");
  EXPECT_TRUE(cert->scopes.MayWrite("042021/mynumber"));
  EXPECT_TRUE(cert->scopes.MayRead("042021"));
  EXPECT_FALSE(cert->scopes.MayRead("131016"));
}

TEST(Trust, RefusesForeignRootsAndOverreach) {
  auto root = CreateRoot("042021");
  auto other = CreateRoot("131016");
  ASSERT_TRUE(root.ok() && other.ok());
  SigningKey k = SigningKey::Generate();
  auto pem = IssueNodeCertificate(*root, Node("042021-honcho", k));
  ASSERT_TRUE(pem.ok());
  EXPECT_FALSE(VerifyNodeCertificate(*pem, other->certificate_pem).ok());
  // A root certifies only its own municipality's nodes and write scopes.
  EXPECT_FALSE(IssueNodeCertificate(*root, Node("131016-honcho", k)).ok());
  NodeCertificate overreach = Node("042021-honcho", k);
  overreach.scopes.write.push_back("131016");
  EXPECT_FALSE(IssueNodeCertificate(*root, overreach).ok());
  // A partner may be granted read scope.
  NodeCertificate reader = Node("042021-partner", k);
  reader.scopes = {{}, {"042021"}};
  auto rp = IssueNodeCertificate(*root, reader);
  ASSERT_TRUE(rp.ok());
  auto rc = VerifyNodeCertificate(*rp, root->certificate_pem);
  ASSERT_TRUE(rc.ok());
  EXPECT_FALSE(rc->scopes.MayWrite("042021"));
  EXPECT_TRUE(rc->scopes.MayRead("042021"));
  EXPECT_FALSE(VerifyNodeCertificate("garbage", root->certificate_pem).ok());
  EXPECT_FALSE(VerifyNodeCertificate(*pem, "garbage").ok());
  EXPECT_FALSE(IssueNodeCertificate(*root, {"042021-x", k.public_key(), "bad code", {}}).ok());
}

TEST(Trust, PrivateKeyPemRoundTrip) {
  InitCrypto();
  SigningKey k = SigningKey::Generate();
  auto back = ParsePrivateKeyPem(PrivateKeyPem(k));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->public_key(), k.public_key());
  EXPECT_EQ(back->Sign("x"), k.Sign("x"));
  EXPECT_FALSE(ParsePrivateKeyPem("not a key").ok());
}

}  // namespace
}  // namespace bosai::sync
