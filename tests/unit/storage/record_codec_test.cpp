#include "storage/record_codec.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>

#include "storage/crypto.h"
#include "tests/protobuf_clock.h"

namespace bosai {
namespace {

// A register-like body: the municipality's address prefix and common tags recur in every one.
std::string Body(int i) {
  return fmt::format("\x0a\x11{:06}:{:010}\x12\x0c山下　明{}\x42\x28宮城県石巻市中里{}丁目{}番{}号",
                     42021, 4235551542 + i, i % 7, i % 9 + 1, i % 31 + 1, i % 5 + 1);
}

TEST(RecordCodec, BodiesRoundTripSmallerAgainstADictionary) {
  std::vector<std::string> samples;
  for (int i = 0; i < 500; ++i) samples.push_back(Body(i));
  const std::string dict_bytes = MakeDictionaryBytes({samples.begin(), samples.end()});
  ASSERT_LE(dict_bytes.size(), kMaxDictionaryBytes);
  EXPECT_EQ(dict_bytes.substr(dict_bytes.size() - samples.back().size()), samples.back());

  std::map<uint32_t, std::string> stored_dicts = {{7, dict_bytes}};
  int loads = 0;
  RecordCodec codec([&](uint32_t id) -> Result<std::optional<std::string>> {
    ++loads;
    auto it = stored_dicts.find(id);
    if (it == stored_dicts.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  });
  RecordDictionary dict(7, dict_bytes);
  size_t raw = 0, stored = 0;
  std::string buffer;
  for (int i = 1000; i < 1100; ++i) {
    const std::string body = Body(i);
    const std::string packed = dict.Compress(body);
    ASSERT_EQ(packed[0], '\x01');
    raw += body.size();
    stored += packed.size();
    auto back = codec.Decode(packed, buffer);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, body);
  }
  EXPECT_LT(stored, raw / 2);
  EXPECT_EQ(loads, 1) << "a dictionary is loaded once";

  // A body that does not shrink is stored as is, and decodes as itself.
  const std::string tiny = "\x08\x01";
  EXPECT_EQ(dict.Compress(tiny), tiny);
  EXPECT_EQ(*codec.Decode(tiny, buffer), tiny);
  EXPECT_EQ(*codec.Decode("", buffer), "");
}

TEST(RecordCodec, DamagedOrUnknownStoredBodiesAreErrors) {
  const std::string dict_bytes = Body(1) + Body(2);
  RecordCodec codec([&](uint32_t id) -> Result<std::optional<std::string>> {
    if (id == 1) return std::optional<std::string>(dict_bytes);
    return std::optional<std::string>();
  });
  RecordDictionary one(1, dict_bytes), two(2, dict_bytes);
  const std::string packed = one.Compress(Body(3));
  std::string buffer;
  ASSERT_TRUE(codec.Decode(packed, buffer).ok());

  auto message = [&](std::string_view stored) {
    auto r = codec.Decode(stored, buffer);
    return r.ok() ? std::string("ok") : r.status().message();
  };
  EXPECT_EQ(message(two.Compress(Body(3))), "record dictionary 2 is missing");
  EXPECT_EQ(message(packed.substr(0, packed.size() - 3)),
            "a compressed record body does not decompress");
  EXPECT_EQ(message(std::string("\x01\x01\xff\xff\xff\xff\x7f", 7)),
            "a compressed record body has a damaged header");
  EXPECT_EQ(message(std::string("\x01\x00\x05", 3)),
            "a compressed record body has a damaged header");
  EXPECT_EQ(message(std::string("\x01", 1)), "a compressed record body has a damaged header");
  std::string longer = packed;
  longer[2] = char(longer[2] + 1);  // the declared size no longer matches
  EXPECT_NE(message(longer), "ok");
}

bool operator==(const StoredClock& a, const StoredClock& b) {
  auto same = [](const ClockStamp& x, const ClockStamp& y) {
    return x.stream == y.stream && x.seq == y.seq && x.hlc == y.hlc && x.reg == y.reg;
  };
  return std::equal(a.stamps.begin(), a.stamps.end(), b.stamps.begin(), b.stamps.end(), same) &&
         a.fields == b.fields && a.siblings == b.siblings;
}

// What a register import leaves: the fields of one op, and My Number from the op of its own
// scope a counter tick later; then a record edited since, with an older stamp among newer ones.
std::vector<StoredClock> Clocks() {
  const uint64_t hlc = (uint64_t(1795779653166) << 16) | 3;
  return {
      {{{1, 1, hlc, true}}, {}, 0},
      {{{1, 41234, hlc, true}, {2, 41233, hlc + 1, true}}, {{9, 1}}, 0},
      {{{7, 5, hlc + 900, false}, {1, 41234, hlc, true}, {300, uint64_t(1) << 40, 1, false}},
       {{2, 1}, {11, 2}, {100000, 1}},
       3},
      {{{UINT32_MAX, UINT64_MAX, UINT64_MAX, true}, {0, 0, 0, false}},
       {{UINT32_MAX, 1}},
       UINT32_MAX},
  };
}

TEST(RecordCodec, ClocksRoundTripCompactly) {
  for (const StoredClock& clock : Clocks()) {
    std::string stored;
    EncodeClock(clock, &stored);
    StoredClock back;
    ASSERT_TRUE(DecodeClock(stored, &back).ok());
    EXPECT_TRUE(back == clock) << ToHex(stored);
  }
  // A register's resident: about half the protobuf message clocks were stored as before.
  const StoredClock resident = Clocks()[1];
  std::string stored;
  EncodeClock(resident, &stored);
  const std::string message = testing::ProtobufClock(resident);
  EXPECT_EQ(stored.size(), 23u);
  EXPECT_EQ(message.size(), 44u);
  // ... which stores written before this form hold, and which reads the same.
  StoredClock back;
  ASSERT_TRUE(DecodeClock(message, &back).ok());
  EXPECT_TRUE(back == resident);
}

TEST(RecordCodec, DamagedClocksAreErrors) {
  std::string stored;
  EncodeClock(Clocks()[2], &stored);
  StoredClock out;
  for (size_t n = 0; n < stored.size(); ++n) {
    EXPECT_FALSE(DecodeClock(stored.substr(0, n), &out).ok()) << "cut at " << n;
  }
  EXPECT_FALSE(DecodeClock(stored + '\0', &out).ok()) << "trailing byte";
  EXPECT_FALSE(DecodeClock("\x03" + stored.substr(1), &out).ok()) << "unknown form";
  StoredClock bad_index = Clocks()[1];
  bad_index.fields[0].second = 2;
  EncodeClock(bad_index, &stored);
  EXPECT_FALSE(DecodeClock(stored, &out).ok()) << "stamp index out of range";
  StoredClock none;
  EncodeClock(none, &stored);
  EXPECT_FALSE(DecodeClock(stored, &out).ok()) << "no stamp";
  EXPECT_FALSE(DecodeClock(std::string("\x0a\x01\xff", 3), &out).ok()) << "damaged message";
  EXPECT_FALSE(DecodeClock(std::string("\x02\xff\xff\xff\xff\x0f", 6), &out).ok())
      << "a count the bytes cannot hold";
}

}  // namespace
}  // namespace bosai
