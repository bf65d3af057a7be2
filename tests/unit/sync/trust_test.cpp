// Roots and node certificates: issue, verify, and refuse what a root may not grant.
#include "sync/trust.h"

#include <gtest/gtest.h>

namespace bosai::sync {
namespace {

NodeCertificate Node(const std::string& id, const SigningKey& key) {
  NodeCertificate c;
  c.node_id = id;
  c.public_key = key.public_key();
  c.issuer_code = "HONCHO";
  c.scopes = {{"042021", "042021/mynumber"}, {}};
  return c;
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
  NodeCertificate bad_code = Node("042021-x", k);
  bad_code.issuer_code = "bad code";
  EXPECT_FALSE(IssueNodeCertificate(*root, bad_code).ok());
}

TEST(Trust, ReadGrantsForAnotherMunicipality) {
  auto root = CreateRoot("042021");
  auto partner_root = CreateRoot("131016");
  ASSERT_TRUE(root.ok() && partner_root.ok());
  SigningKey k = SigningKey::Generate();
  NodeCertificate partner = Node("131016-partner", k);
  partner.scopes = {{}, {"042021", "042021/mynumber"}};
  auto grant = IssueReadGrant(*root, partner);
  ASSERT_TRUE(grant.ok()) << grant.status().message();
  auto g = VerifyNodeCertificate(*grant, root->certificate_pem);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_TRUE(g->grant);
  EXPECT_EQ(g->node_id, "131016-partner");
  EXPECT_EQ(g->root_municipality, "042021");
  EXPECT_TRUE(g->scopes.MayRead("042021/mynumber"));
  EXPECT_FALSE(g->scopes.MayWrite("042021"));
  // Never write, never another municipality's scopes, never a grant to its own node.
  partner.scopes = {{}, {"282049"}};
  EXPECT_FALSE(IssueReadGrant(*root, partner).ok());
  EXPECT_FALSE(IssueReadGrant(*root, Node("042021-honcho", k)).ok());
  // A grant does not verify under the partner's own root.
  EXPECT_FALSE(VerifyNodeCertificate(*grant, partner_root->certificate_pem).ok());
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
