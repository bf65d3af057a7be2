// Block codec: round trip, signature, and rejection of tampered, truncated or oversized blocks.
#include "storage/block.h"

#include <gtest/gtest.h>
#include <lz4.h>
#include <lz4hc.h>

namespace bosai {
namespace {

std::string MakeBlock(const SigningKey& key, int ops = 3) {
  v1::OpBatch batch;
  batch.add_peers("042021-honcho#1");
  for (int i = 0; i < ops; ++i) {
    auto* op = batch.add_ops();
    op->set_entity(1);
    op->set_key("042021:" + std::to_string(i));
    op->set_hlc(100 + i);
    auto* w = op->add_writes();
    w->set_field(2);
    w->set_value(
        "\x12\x03"
        "abc");
  }
  return EncodeBlock({"042021-honcho#1", "042021", 10, uint32_t(ops), uint64_t(100 + ops)}, batch,
                     key);
}

TEST(Block, RoundTrip) {
  InitCrypto();
  SigningKey key = SigningKey::Generate();
  std::string b = MakeBlock(key);
  auto h = ParseBlockHeader(b);
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->origin, "042021-honcho#1");
  EXPECT_EQ(h->scope, "042021");
  EXPECT_EQ(h->first_seq, 10u);
  EXPECT_EQ(h->last_seq(), 12u);
  EXPECT_TRUE(VerifyBlock(b, key.public_key()).ok());
  auto batch = DecodeBlockPayload(b);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->ops_size(), 3);
  EXPECT_EQ(batch->ops(2).key(), "042021:2");
}

TEST(Block, CompressesRepetitiveOps) {
  InitCrypto();
  SigningKey key = SigningKey::Generate();
  std::string b = MakeBlock(key, 1000);
  auto batch = DecodeBlockPayload(b);
  ASSERT_TRUE(batch.ok());
  EXPECT_LT(b.size(), batch->ByteSizeLong() / 2);
}

// The LZ4 block a compressor makes of an op batch: plain LZ4, or LZ4 HC at the level blocks use.
size_t CompressedSize(const v1::OpBatch& batch, bool hc) {
  std::string raw = batch.SerializeAsString();
  std::string out(LZ4_compressBound(int(raw.size())), '\0');
  return size_t(
      hc ? LZ4_compress_HC(raw.data(), out.data(), int(raw.size()), int(out.size()), 2)
         : LZ4_compress_default(raw.data(), out.data(), int(raw.size()), int(out.size())));
}

// Blocks of more than the 64 KiB the encoder probes: a register-like one is compressed with
// LZ4 HC, one that is mostly ciphertext (My Number ops) with plain LZ4; both read back exactly.
TEST(Block, LargeBlocksOfTextAndOfCiphertextRoundTrip) {
  InitCrypto();
  SigningKey key = SigningKey::Generate();
  // Around the payload: magic, origin and scope with their lengths, first seq, count, max HLC,
  // both payload lengths; the signature.
  auto framing = [](size_t origin, size_t scope) { return 4 + 2 + origin + 2 + scope + 28 + 64; };
  std::string text = MakeBlock(key, 4000);
  auto batch = DecodeBlockPayload(text);
  ASSERT_TRUE(batch.ok());
  EXPECT_GT(batch->ByteSizeLong(), 64u << 10);
  EXPECT_LT(text.size(), batch->ByteSizeLong() / 4);
  EXPECT_EQ(text.size(), framing(15, 6) + CompressedSize(*batch, true));
  EXPECT_LT(CompressedSize(*batch, true), CompressedSize(*batch, false));

  v1::OpBatch sealed;
  sealed.add_peers("042021-honcho#1");
  for (int i = 0; i < 4000; ++i) {
    auto* op = sealed.add_ops();
    op->set_entity(1);
    op->set_key("042021:" + std::to_string(100000 + i));
    op->set_hlc(100 + i);
    std::string value(49, '\0');
    randombytes_buf(value.data(), value.size());
    op->set_set("\x4a\x31" + value);
  }
  std::string b = EncodeBlock({"042021-honcho#1", "042021/mynumber", 1, 4000, 4099}, sealed, key);
  EXPECT_TRUE(VerifyBlock(b, key.public_key()).ok());
  EXPECT_LT(b.size(), sealed.ByteSizeLong());
  EXPECT_EQ(b.size(), framing(15, 15) + CompressedSize(sealed, false));
  auto back = DecodeBlockPayload(b);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->SerializeAsString(), sealed.SerializeAsString());
}

TEST(Block, RejectsForgedOrTamperedBlocks) {
  InitCrypto();
  SigningKey key = SigningKey::Generate();
  std::string b = MakeBlock(key);
  EXPECT_FALSE(VerifyBlock(b, SigningKey::Generate().public_key()).ok());
  for (size_t i = 0; i < b.size(); i += 7) {
    std::string t = b;
    t[i] ^= 0x20;
    EXPECT_FALSE(VerifyBlock(t, key.public_key()).ok()) << "byte " << i;
  }
}

TEST(Block, RejectsTruncatedAndMalformedBlocks) {
  InitCrypto();
  SigningKey key = SigningKey::Generate();
  std::string b = MakeBlock(key);
  for (size_t n = 0; n < b.size(); ++n) {
    EXPECT_FALSE(ParseBlockHeader(b.substr(0, n)).ok()) << "length " << n;
  }
  EXPECT_FALSE(ParseBlockHeader("XXXX" + b.substr(4)).ok());
  std::string huge = b;
  huge[4] = char(0xff);  // origin length 0xff..
  EXPECT_FALSE(ParseBlockHeader(huge).ok());
}

TEST(Block, RejectsPayloadThatDoesNotMatchItsHeader) {
  InitCrypto();
  SigningKey key = SigningKey::Generate();
  v1::OpBatch batch;
  batch.add_peers("someone-else#1");  // peer table must start with the origin
  batch.add_ops()->set_hlc(1);
  std::string b = EncodeBlock({"042021-honcho#1", "042021", 1, 1, 1}, batch, key);
  EXPECT_TRUE(VerifyBlock(b, key.public_key()).ok());
  EXPECT_FALSE(DecodeBlockPayload(b).ok());
}

}  // namespace
}  // namespace bosai
