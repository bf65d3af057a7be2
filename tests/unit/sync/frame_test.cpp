// Wire frames: CRC-32C, round trips, incremental decoding, and refusal of malformed frames
// before any allocation or decompression.
#include "sync/frame.h"

#include <gtest/gtest.h>

#include "sync/crc32c.h"

namespace bosai::sync {
namespace {

std::string Encode(FrameType t, const std::string& body, bool compress = true) {
  auto f = EncodeFrame(t, body, compress);
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? *f : std::string();
}

TEST(Crc32c, KnownVector) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("6789", Crc32c("12345")), Crc32c("123456789"));
  EXPECT_EQ(Crc32cPortable("123456789"), 0xE3069283u);
}

TEST(Crc32c, TheInstructionAndTheTableAgreeAtEveryLengthAndAlignment) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes.push_back(char((i * 7919 + 13) % 251));
  for (size_t start = 0; start < 9; ++start) {
    for (size_t n = 0; start + n <= bytes.size(); n += 7) {
      std::string_view part = std::string_view(bytes).substr(start, n);
      ASSERT_EQ(Crc32c(part, 0x1234u), Crc32cPortable(part, 0x1234u)) << start << " " << n;
    }
  }
}

TEST(Frame, RoundTripsCompressedAndPlainBodies) {
  std::string repetitive(100000, 'a');
  std::string random;
  for (int i = 0; i < 5000; ++i) random.push_back(char((i * 7919 + 13) % 251));
  for (const std::string& body : {std::string(), std::string("ack"), repetitive, random}) {
    std::string wire = Encode(FrameType::kBlocks, body);
    if (body == repetitive) {
      EXPECT_LT(wire.size(), body.size() / 10);
    }
    FrameDecoder d;
    ASSERT_TRUE(d.Feed(wire).ok());
    auto f = d.Next();
    ASSERT_TRUE(f.ok()) << f.status().message();
    ASSERT_TRUE(f->has_value());
    EXPECT_EQ((*f)->type, FrameType::kBlocks);
    EXPECT_EQ((*f)->body, body);
    EXPECT_FALSE(d.Next()->has_value());
  }
}

TEST(Frame, DecodesByteByByteAndSeveralAtOnce) {
  std::string wire = Encode(FrameType::kHello, "hello") + Encode(FrameType::kAck, "x") +
                     Encode(FrameType::kHeartbeat, "");
  FrameDecoder d;
  std::vector<Frame> got;
  for (char c : wire) {
    ASSERT_TRUE(d.Feed(std::string_view(&c, 1)).ok());
    while (true) {
      auto f = d.Next();
      ASSERT_TRUE(f.ok());
      if (!f->has_value()) break;
      got.push_back(std::move(**f));
    }
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].body, "hello");
  EXPECT_EQ(got[1].type, FrameType::kAck);
  EXPECT_EQ(got[2].type, FrameType::kHeartbeat);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(Frame, RefusesOversizedLengthsBeforeReadingTheBody) {
  FrameDecoder d;
  ASSERT_TRUE(d.Feed(std::string("\xff\xff\xff\xff", 4)).ok());
  auto f = d.Next();
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("frame 1: bad length"), std::string::npos);
  EXPECT_FALSE(d.Feed("more").ok());  // a failed decoder stays failed
}

TEST(Frame, RefusesCorruptFrames) {
  std::string good = Encode(FrameType::kBlocks, std::string(1000, 'z'));
  auto decode = [](const std::string& wire) {
    FrameDecoder d;
    EXPECT_TRUE(d.Feed(wire).ok());
    return d.Next();
  };
  std::string bad_type = good;
  bad_type[4] = 9;
  EXPECT_FALSE(decode(bad_type).ok());
  std::string bad_flags = good;
  bad_flags[5] = char(0x81);
  EXPECT_FALSE(decode(bad_flags).ok());
  std::string bad_crc = good;
  bad_crc.back() ^= 1;
  EXPECT_NE(decode(bad_crc).status().message().find("checksum"), std::string::npos);

  // A compressed body whose stated size is a lie (with a correct checksum).
  std::string lie = good;
  lie[13] = char(uint8_t(lie[13]) + 1);  // uncompressed length + 1
  std::string payload = lie.substr(10);
  uint32_t crc = Crc32c(payload);
  for (int i = 0; i < 4; ++i) lie[6 + i] = char(crc >> (24 - 8 * i));
  auto r = decode(lie);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("decompress"), std::string::npos) << r.status().message();

  // A compressed body claiming more than the limit.
  std::string huge = good;
  huge[10] = char(0x7f);
  payload = huge.substr(10);
  crc = Crc32c(payload);
  for (int i = 0; i < 4; ++i) huge[6 + i] = char(crc >> (24 - 8 * i));
  EXPECT_FALSE(decode(huge).ok());
}

TEST(Frame, TruncatedFramesWait) {
  std::string wire = Encode(FrameType::kHello, "hello world");
  FrameDecoder d;
  ASSERT_TRUE(d.Feed(wire.substr(0, wire.size() - 1)).ok());
  auto f = d.Next();
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->has_value());
  EXPECT_EQ(d.buffered(), wire.size() - 1);
}

TEST(Frame, EncoderEnforcesLimits) {
  EXPECT_FALSE(EncodeFrame(FrameType::kBlocks, std::string(kMaxBodyBytes + 1, 'a')).ok());
  std::string incompressible;
  uint64_t x = 88172645463325252ull;  // xorshift64: bytes LZ4 cannot shrink
  for (uint32_t i = 0; i < kMaxFrameBytes; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    incompressible.push_back(char(x));
  }
  EXPECT_FALSE(EncodeFrame(FrameType::kBlocks, incompressible).ok());
}

}  // namespace
}  // namespace bosai::sync
