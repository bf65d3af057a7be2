// Record bodies split into fields and joined back, the flat map that holds them, and the
// probed table of many small entries.
#include "storage/fields.h"

#include <gtest/gtest.h>

namespace bosai {
namespace {

TEST(FlatMap, KeepsKeysSortedWhateverTheOrderOfInsertion) {
  FlatMap<uint32_t, std::string> m;
  m[7] = "g";
  m[2] = "b";
  m[11] = "k";
  EXPECT_TRUE(m.emplace(5, "e").second);
  EXPECT_FALSE(m.emplace(2, "x").second);  // present: kept, as std::map does
  std::string keys;
  for (const auto& [k, v] : m) keys += std::to_string(k) + v + " ";
  EXPECT_EQ(keys, "2b 5e 7g 11k ");
  EXPECT_EQ(m.count(7), 1u);
  EXPECT_EQ(m.count(8), 0u);
  EXPECT_EQ(m.find(8), m.end());
  EXPECT_EQ(m.erase(7), 1u);
  EXPECT_EQ(m.erase(7), 0u);
  auto it = m.erase(m.find(2));
  EXPECT_EQ(it->first, 5u);
  EXPECT_EQ(m.size(), 2u);
  FlatMap<uint32_t, std::string> same{{11, "k"}, {5, "e"}, {5, "ignored"}};
  EXPECT_EQ(m, same);
}

// Through several growths and with hashes that collide (a few buckets for thousands of keys),
// every key inserted is found in its own slot, once, and no other key is.
TEST(ProbedTable, FindsEachKeyInsertedAndNoOther) {
  struct Slot {
    uint64_t key = 0;  // 0: empty
    uint32_t count = 0;
    bool operator==(const Slot&) const = default;
  };
  ProbedTable<Slot> table;
  auto hash = [](uint64_t key) { return size_t(key % 7); };  // many collisions
  auto slot_hash = [&](const Slot& s) { return hash(s.key); };
  for (uint64_t round = 0; round < 2; ++round) {
    for (uint64_t key = 1; key <= 5000; ++key) {
      auto [slot, found] = table.Insert(
          hash(key), [&](const Slot& s) { return s.key == key; }, slot_hash);
      EXPECT_EQ(found, round == 1) << key;
      slot->key = key;
      ++slot->count;
    }
  }
  EXPECT_EQ(table.size(), 5000u);
  for (uint64_t key = 1; key <= 5001; ++key) {
    Slot* slot = table.Find(hash(key), [&](const Slot& s) { return s.key == key; });
    if (key == 5001) {
      EXPECT_EQ(slot, nullptr);
    } else {
      ASSERT_NE(slot, nullptr) << key;
      EXPECT_EQ(slot->key, key);
      EXPECT_EQ(slot->count, 2u);
    }
  }
  ProbedTable<Slot> empty;
  EXPECT_EQ(empty.Find(1, [](const Slot&) { return true; }), nullptr);
}

TEST(Fields, SplitAndJoinRoundTripUnknownAndRepeatedFields) {
  // field 1 varint 150, field 3 "ab", field 1 again (repeated), field 1000 varint 1
  std::string body(
      "\x08\x96\x01\x1a\x02"
      "ab\x08\x01\xc0\x3e\x01",
      12);
  auto fields = SplitFields(body);
  ASSERT_TRUE(fields.ok()) << fields.status().message();
  ASSERT_EQ(fields->size(), 3u);
  EXPECT_EQ(fields->at(1), std::string("\x08\x96\x01\x08\x01", 5));
  EXPECT_EQ(fields->at(3), std::string("\x1a\x02"
                                       "ab",
                                       4));
  EXPECT_EQ(fields->at(1000), std::string("\xc0\x3e\x01", 3));
  // Canonical order: by field number.
  EXPECT_EQ(JoinFields(*fields), std::string("\x08\x96\x01\x08\x01\x1a\x02"
                                             "ab\xc0\x3e\x01",
                                             12));
  EXPECT_FALSE(SplitFields(std::string("\x1a\x05"
                                       "ab",
                                       4))
                   .ok());  // a length past the end
}

TEST(WireReader, ReadsEachFieldInPlace) {
  // field 1 varint 150; field 2 fixed64; field 3 "ab"; field 4 a group holding field 1 varint 7
  // and an empty nested group 5; field 6 fixed32.
  std::string body(
      "\x08\x96\x01"
      "\x11\x01\x02\x03\x04\x05\x06\x07\x08"
      "\x1a\x02"
      "ab"
      "\x23\x08\x07\x2b\x2c\x24"
      "\x35\x01\x02\x03\x04",
      27);
  WireReader reader(body);
  std::vector<WireField> fields;
  for (WireField f; reader.Next(f);) fields.push_back(f);
  EXPECT_EQ(reader.error(), "");
  ASSERT_EQ(fields.size(), 5u);
  EXPECT_EQ(fields[0].number, 1u);
  EXPECT_EQ(fields[0].wire_type, 0u);
  EXPECT_EQ(fields[0].varint, 150u);
  EXPECT_EQ(fields[1].number, 2u);
  EXPECT_EQ(fields[1].encoded.size(), 9u);
  EXPECT_EQ(fields[2].number, 3u);
  EXPECT_EQ(fields[2].bytes, "ab");
  EXPECT_EQ(fields[3].number, 4u);
  EXPECT_EQ(fields[3].wire_type, 3u);
  EXPECT_EQ(fields[3].encoded, std::string("\x23\x08\x07\x2b\x2c\x24", 6));
  EXPECT_EQ(fields[4].number, 6u);
  std::string joined;
  for (const WireField& f : fields) joined += f.encoded;
  EXPECT_EQ(joined, body);
}

TEST(WireReader, SaysWhereTheBytesAreMalformed) {
  struct Case {
    std::string bytes;
    std::string error;
  };
  const Case cases[] = {
      {std::string("\x08\x01\x08\x96", 4), "malformed field at byte 2"},  // a varint cut
      {std::string("\x1a\x05"
                   "ab",
                   4),
       "malformed field at byte 0"},                                  // a length past the end
      {std::string("\x08\x01\x0c", 3), "malformed field at byte 2"},  // an end of group alone
      {std::string("\x00\x01", 2), "malformed field at byte 0"},      // field number 0
      {std::string("\x23\x08\x07", 3), "malformed field at byte 0"},  // a group never ended
      {std::string("\x23\x2c", 2), "malformed field at byte 0"},      // ended as another field
      {std::string("\x0f", 1), "malformed field at byte 0"},          // wire type 7
      {std::string("\x0d\x01\x02", 3), "malformed field at byte 0"},  // a fixed32 cut
  };
  for (const Case& c : cases) {
    WireReader reader(c.bytes);
    WireField f;
    while (reader.Next(f)) {
    }
    EXPECT_EQ(reader.error(), c.error) << testing::PrintToString(c.bytes);
    EXPECT_FALSE(reader.Next(f));  // stays at the error
  }
}

}  // namespace
}  // namespace bosai
