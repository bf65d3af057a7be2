// Record bodies split into fields and joined back, and the flat map that holds them.
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

}  // namespace
}  // namespace bosai
