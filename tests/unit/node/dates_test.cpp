// Date parsing: ISO forms and 和暦 (table-driven).
#include "node/dates.h"

#include <gtest/gtest.h>

namespace bosai::node {
namespace {

TEST(Dates, AcceptsIsoAndWareki) {
  struct Case {
    const char* text;
    int32_t want;
  } cases[] = {
      {"2024-01-31", 20240131},       {"2024/1/5", 20240105},
      {"20240229", 20240229},         {"2024年3月1日", 20240301},
      {"昭和50年4月1日", 19750401},   {"昭和５０年４月１日", 19750401},
      {"S50.4.1", 19750401},          {"s50.4.1", 19750401},
      {"R2.3.31", 20200331},          {"令和元年5月1日", 20190501},
      {"平成元年1月8日", 19890108},   {"H31.4.30", 20190430},
      {"昭64.1.7", 19890107},         {"大正15年12月25日", 19261225},
      {"昭和元年12月25日", 19261225}, {"明治45年7月30日", 19120730},
      {"大正元年7月30日", 19120730},  {"T1.8.1", 19120801},
      {"M40.2.11", 19070211},         {" 2024-01-31 ", 20240131},
      {"Ｈ２．３．４", 19900304},
  };
  for (const auto& c : cases) {
    auto d = ParseDate(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status().message();
    EXPECT_EQ(*d, c.want) << c.text;
  }
}

TEST(Dates, RejectsImpossibleDates) {
  for (const char* text :
       {"", "2023-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "昭和64年1月8日",
        "平成31年5月1日", "令和元年4月30日", "S0.1.1", "X50.4.1", "50.4.1", "2024-01",
        "2024-01-01-01", "昭和50年", "abc", "2024/1/1x"}) {
    EXPECT_FALSE(ParseDate(text).ok()) << text;
  }
}

TEST(Dates, Formats) {
  EXPECT_EQ(FormatDate(19750401), "1975-04-01");
  EXPECT_TRUE(IsValidDate(2000, 2, 29));
  EXPECT_FALSE(IsValidDate(1900, 2, 29));
}

}  // namespace
}  // namespace bosai::node
