// Compact CBOR node certificates: issue, verify with the root key alone, refuse tampering,
// other roots and non-canonical encodings.
#include "sync/compact_cert.h"

#include <gtest/gtest.h>

namespace bosai::sync {
namespace {

NodeCertificate Shelter(const SigningKey& key) {
  NodeCertificate n;
  n.node_id = "042021-shelter-03";
  n.public_key = key.public_key();
  n.issuer_code = "SHELTER03";
  n.scopes.write = {"042021"};
  return n;
}

TEST(CompactCertificate, RoundTripsAndIsSmall) {
  auto root = CreateRoot("042021");
  ASSERT_TRUE(root.ok());
  SigningKey node = SigningKey::Generate();
  constexpr int64_t kNow = 1'795'000'000;
  auto bytes = IssueCompactCertificate(*root, Shelter(node), kNow);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  EXPECT_LT(bytes->size(), 220u) << "must fit a QR code beside a document";
  EXPECT_EQ(uint8_t((*bytes)[0]), 0xd2) << "tag 18 (COSE_Sign1)";
  auto c = VerifyCompactCertificate(*bytes, root->key.public_key());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->node.node_id, "042021-shelter-03");
  EXPECT_EQ(c->node.public_key, node.public_key());
  EXPECT_EQ(c->node.issuer_code, "SHELTER03");
  EXPECT_EQ(c->node.scopes.write, std::vector<std::string>{"042021"});
  EXPECT_EQ(c->municipality, "042021");
  EXPECT_EQ(c->issued_at, kNow);
  EXPECT_LT(c->not_before, kNow);
  EXPECT_GT(c->not_after, kNow + 365 * 86400);
  EXPECT_EQ(c->root_key_id, RootKeyId(root->key.public_key()));
  // Deterministic: the same inputs give the same bytes.
  EXPECT_EQ(*IssueCompactCertificate(*root, Shelter(node), kNow), *bytes);
}

TEST(CompactCertificate, RefusesTamperingOtherRootsAndSloppyEncodings) {
  auto root = CreateRoot("042021");
  auto other = CreateRoot("042021");
  ASSERT_TRUE(root.ok() && other.ok());
  SigningKey node = SigningKey::Generate();
  auto bytes = IssueCompactCertificate(*root, Shelter(node), 1'795'000'000);
  ASSERT_TRUE(bytes.ok());
  EXPECT_FALSE(VerifyCompactCertificate(*bytes, other->key.public_key()).ok());
  for (size_t i = 0; i < bytes->size(); ++i) {
    std::string t = *bytes;
    t[i] = char(t[i] ^ 0x01);
    EXPECT_FALSE(VerifyCompactCertificate(t, root->key.public_key()).ok()) << "byte " << i;
  }
  EXPECT_FALSE(VerifyCompactCertificate(*bytes + '\0', root->key.public_key()).ok());
  EXPECT_FALSE(
      VerifyCompactCertificate(bytes->substr(0, bytes->size() - 1), root->key.public_key()).ok());
  EXPECT_FALSE(VerifyCompactCertificate("", root->key.public_key()).ok());
  EXPECT_FALSE(VerifyCompactCertificate(std::string(2000, 'x'), root->key.public_key()).ok());
}

}  // namespace
}  // namespace bosai::sync
