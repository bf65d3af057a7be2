// Check digits of municipality codes and My Numbers, node id syntax (table-driven).
#include "storage/ids.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace bosai {
namespace {

TEST(Ids, MunicipalityCodes) {
  struct Case {
    const char* code;
    bool valid;
  } cases[] = {
      {"042021", true}, {"282049", true},   {"131016", true},  {"046060", true},
      {"011002", true}, {"431001", true},   {"131041", true},  {"042020", false},
      {"04202", false}, {"0420211", false}, {"04202a", false}, {"", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ValidateMunicipalityCode(c.code).ok(), c.valid) << c.code;
  }
  EXPECT_EQ(MunicipalityCheckDigit("04606"), 0);  // r = 1 case
  EXPECT_EQ(MunicipalityCheckDigit("13104"), 1);  // r = 0 case
}

TEST(Ids, MyNumbers) {
  struct Case {
    const char* number;
    bool valid;
  } cases[] = {
      {"983205673214", true},   {"983205673215", false}, {"98320567321", false},
      {"9832056732140", false}, {"98320567321a", false}, {"000000000000", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ValidateMyNumber(c.number).ok(), c.valid) << c.number;
  }
  EXPECT_EQ(MyNumberCheckDigit("98320567321"), 4);
}

TEST(Ids, NodeIdsAndCodes) {
  EXPECT_TRUE(ValidateNodeId("042021-honcho").ok());
  EXPECT_TRUE(ValidateNodeId("042021-shelter-03").ok());
  EXPECT_FALSE(ValidateNodeId("042020-honcho").ok());
  EXPECT_FALSE(ValidateNodeId("042021-").ok());
  EXPECT_FALSE(ValidateNodeId("042021-Honcho").ok());
  EXPECT_FALSE(ValidateNodeId("honcho").ok());
  EXPECT_EQ(Incarnation("042021-honcho", 3), "042021-honcho#3");
  EXPECT_TRUE(ValidateRegisterCode("A12345", "resident code").ok());
  EXPECT_FALSE(ValidateRegisterCode("", "resident code").ok());
  EXPECT_FALSE(ValidateRegisterCode("123456789012345678901", "resident code").ok());
  EXPECT_FALSE(ValidateRegisterCode("12-3", "resident code").ok());
}

// A packed code is exactly its text: the same text back, equal only when the texts are, and
// in the texts' order, for exactly the texts ValidateRegisterCode accepts.
TEST(Ids, PackedCodesKeepTheTextAndItsOrder) {
  for (std::string code : {"0", "z", "A12345", "00000126301", "zzzzzzzzzzzzzzzzzzzz",
                           "01234567890123456789", "983205673214"}) {
    auto packed = PackedCode::Of(code);
    ASSERT_TRUE(packed) << code;
    EXPECT_EQ(packed->Text(), code);
    EXPECT_TRUE(packed->hi != 0 || packed->lo != 0);
  }
  for (const std::string& bad : std::vector<std::string>{"", "123456789012345678901", "12-3", "ｱ",
                                                         "a b", std::string(1, '\0')}) {
    EXPECT_FALSE(PackedCode::Of(bad)) << bad;
    EXPECT_FALSE(ValidateRegisterCode(bad, "code").ok()) << bad;
  }
  // Texts from a small alphabet with the edges of each range, so that prefixes and equal
  // texts come often.
  const std::string alphabet = "09AZaz5";
  std::mt19937 rng(7);
  auto random_code = [&] {
    std::string s(1 + rng() % 20, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    if (rng() % 4 == 0) s.resize(std::min<size_t>(s.size(), 1 + rng() % 3));
    return s;
  };
  for (int i = 0; i < 20000; ++i) {
    std::string a = random_code(), b = random_code();
    auto pa = PackedCode::Of(a), pb = PackedCode::Of(b);
    ASSERT_TRUE(pa && pb);
    EXPECT_EQ(pa->Text(), a);
    EXPECT_EQ(*pa == *pb, a == b) << a << " " << b;
    EXPECT_EQ(*pa < *pb, a < b) << a << " " << b;
  }
}

}  // namespace
}  // namespace bosai
