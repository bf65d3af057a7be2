// Date parsing: ISO forms and 和暦 (table-driven).
#include "node/dates.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace bosai::node {
namespace {

TEST(Dates, AcceptsIsoAndWareki) {
  struct Case {
    const char* text;
    int32_t want;
  } cases[] = {
      {"2024-01-31", 20240131},
      {"2024/1/5", 20240105},
      {"20240229", 20240229},
      {"2024年3月1日", 20240301},
      {"昭和50年4月1日", 19750401},
      {"昭和５０年４月１日", 19750401},
      {"S50.4.1", 19750401},
      {"s50.4.1", 19750401},
      {"R2.3.31", 20200331},
      {"令和元年5月1日", 20190501},
      {"平成元年1月8日", 19890108},
      {"H31.4.30", 20190430},
      {"昭64.1.7", 19890107},
      {"大正15年12月25日", 19261225},
      {"昭和元年12月25日", 19261225},
      {"明治45年7月30日", 19120730},
      {"大正元年7月30日", 19120730},
      {"T1.8.1", 19120801},
      {"M40.2.11", 19070211},
      {" 2024-01-31 ", 20240131},
      {"Ｈ２．３．４", 19900304},
      {"1970/1/5 0:00", 19700105},
      {"1970/01/05 00:00:00", 19700105},
      {"1970-01-05T00:00:00", 19700105},
      {"S45.1.5 0:00", 19700105},
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
        "2024-01-01-01", "昭和50年", "abc", "2024/1/1x", "1970/1/5 9:30", " 0:00", "1970/1/5T"}) {
    EXPECT_FALSE(ParseDate(text).ok()) << text;
  }
}

// YYYY-MM-DD is read by a way of its own: it gives what the general way gives for the same date
// written with slashes, every day and every impossible one of the years around each boundary.
TEST(Dates, TheIsoFormReadsAsTheGeneralForm) {
  int checked = 0;
  for (int year : {0, 1, 999, 1799, 1800, 1801, 1899, 1900, 1901, 1999, 2000, 2001, 2023, 2024,
                   2100, 9998, 9999}) {
    for (int month = 0; month <= 13; ++month) {
      for (int day = 0; day <= 32; ++day) {
        const std::string iso = fmt::format("{:04d}-{:02d}-{:02d}", year, month, day);
        const std::string slashed = fmt::format("{:04d}/{:02d}/{:02d}", year, month, day);
        auto a = ParseDate(iso), b = ParseDate(slashed);
        ASSERT_EQ(a.ok(), b.ok()) << iso;
        if (a.ok()) {
          EXPECT_EQ(*a, *b) << iso;
          ++checked;
        }
      }
    }
  }
  // Years before 1800 are refused; of the 13 others, 2000 and 2024 are leap years (1800, 1900 and
  // 2100 are not).
  EXPECT_EQ(checked, 11 * 365 + 2 * 366);
  for (const char* text : {"2024-0a-01", "2024-01-0 ", "+024-01-01", "2024-01-01\n"}) {
    EXPECT_FALSE(ParseDate(text).ok()) << text;
  }
}

// A date a spreadsheet turned into its day number: the problem says which day it would be.
TEST(Dates, ASpreadsheetsDateNumberIsNamed) {
  struct Case {
    const char* text;
    const char* day;
  } cases[] = {{"25573", "1970-01-05"},
               {"61", "1900-03-01"},
               {"36526", "2000-01-01"},
               {"45658", "2025-01-01"},
               {"2958465", "9999-12-31"}};
  for (const auto& c : cases) {
    auto d = ParseDate(c.text);
    ASSERT_FALSE(d.ok()) << c.text;
    EXPECT_EQ(d.status().message(),
              std::string("\"") + c.text +
                  "\" is not a date (expected year, month and day; as a spreadsheet's date "
                  "number it is " +
                  c.day + ": save the column as dates or as text)");
  }
  EXPECT_EQ(ParseDate("60").status().message(),
            "\"60\" is not a date (expected year, month and day)");
  EXPECT_EQ(ParseDate("1970/1/5 9:30").status().message(),
            "\"1970/1/5 9:30\" is not a date (a time of day, 9:30, follows the date)");
}

// A date that does not exist says which part is wrong, so that a clerk can find it in the file.
TEST(Dates, ADateThatDoesNotExistSaysWhichPartIsWrong) {
  struct Case {
    const char* text;
    const char* why;
  } cases[] = {
      {"2021-02-29", "no day 29: 2021-02 has 28 days"},
      {"2020-04-31", "no day 31: 2020-04 has 30 days"},
      {"2020-04-00", "no day 0: 2020-04 has 30 days"},
      {"S50.2.30", "no day 30: 1975-02 has 28 days"},
      {"20201301", "no month 13"},
      {"2020-00-10", "no month 0"},
      {"1700-01-01", "year 1700 is not within 1800-9999"},
      // A year counted past the era's end (a form printed before the change) names the day in
      // the era it falls in; one before the era's start too.
      {"平成31年5月1日",
       "outside the 平成 era (1989-01-08 to 2019-04-30); 2019-05-01 is 令和元年5月1日"},
      {"H32.4.1", "outside the 平成 era (1989-01-08 to 2019-04-30); 2020-04-01 is 令和2年4月1日"},
      {"平成元年1月7日",
       "outside the 平成 era (1989-01-08 to 2019-04-30); 1989-01-07 is 昭和64年1月7日"},
      {"令和元年4月30日", "outside the 令和 era (from 2019-05-01); 2019-04-30 is 平成31年4月30日"},
  };
  for (const auto& c : cases) {
    auto d = ParseDate(c.text);
    ASSERT_FALSE(d.ok()) << c.text;
    EXPECT_EQ(d.status().message(),
              std::string("\"") + c.text + "\" is not a date (" + c.why + ")");
  }
  EXPECT_EQ(*ParseDate("2020-02-29"), 20200229);
}

TEST(Dates, Formats) {
  EXPECT_EQ(FormatDate(19750401), "1975-04-01");
  EXPECT_TRUE(IsValidDate(2000, 2, 29));
  EXPECT_FALSE(IsValidDate(1900, 2, 29));
}

}  // namespace
}  // namespace bosai::node
