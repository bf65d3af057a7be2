// Date parsing, ISO and 和暦; see dates.h.
#include "node/dates.h"

#include <fmt/format.h>

#include <ctime>
#include <vector>

#include "node/text.h"

namespace bosai::node {
namespace {

struct Era {
  const char* names[3];  // kanji, one-kanji abbreviation, Latin letter
  int32_t first;         // first day, YYYYMMDD
  int32_t last;          // last day (the change day belongs to both eras)
};

constexpr Era kEras[] = {
    {{"明治", "明", "M"}, 18680101, 19120730}, {{"大正", "大", "T"}, 19120730, 19261225},
    {{"昭和", "昭", "S"}, 19261225, 19890107}, {{"平成", "平", "H"}, 19890108, 20190430},
    {{"令和", "令", "R"}, 20190501, 99991231},
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Splits off a time of day that a spreadsheet writes after a date ("1970/1/5 0:00",
// "1970-01-05T00:00:00"): true with *time set when `s` ends with one.
bool SplitTime(std::string_view& s, std::string_view* time) {
  size_t sep = s.find_last_of(" T");
  if (sep == std::string_view::npos || sep == 0) return false;
  std::string_view t = s.substr(sep + 1);
  if (t.find(':') == std::string_view::npos) return false;
  for (char c : t) {
    if ((c < '0' || c > '9') && c != ':' && c != '.') return false;
  }
  *time = t;
  s = Trim(s.substr(0, sep));
  return true;
}

// The day a spreadsheet's date number stands for (Excel and LibreOffice: day 1 is 1900-01-01,
// counting Excel's 1900-02-29 that never was), for numbers after that day; else 0.
int32_t SpreadsheetSerialDate(int serial) {
  if (serial <= 60 || serial > 2958465) return 0;  // 9999-12-31
  // Days from 1899-12-30 to the civil date (Howard Hinnant's days_from_civil, inverted).
  int64_t z = int64_t(serial) - 25569 + 719468;  // days since 0000-03-01 (25569: 1970-01-01)
  int64_t era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2);
  return int32_t(year * 10000 + month * 100 + day);
}

// Why YEAR-MONTH-DAY is no date bosai holds, or an empty string when it is one.
std::string DateProblem(int year, int month, int day) {
  if (year < 1800 || year > 9999) return fmt::format("year {} is not within 1800-9999", year);
  if (month < 1 || month > 12) return fmt::format("no month {}", month);
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int max = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  if (day < 1 || day > max) {
    return fmt::format("no day {}: {}-{:02d} has {} days", day, year, month, max);
  }
  return {};
}

}  // namespace

bool IsValidDate(int year, int month, int day) { return DateProblem(year, month, day).empty(); }

Result<int32_t> ParseDate(std::string_view input) {
  // The form a register exports and bosai writes, YYYY-MM-DD, read directly (a register has two
  // dates a row); anything else, or a day that does not exist, takes the general way below.
  if (input.size() == 10 && input[4] == '-' && input[7] == '-') {
    int v[8];
    bool digits = true;
    for (size_t i = 0, k = 0; i < 10; ++i) {
      if (i == 4 || i == 7) continue;
      digits = digits && input[i] >= '0' && input[i] <= '9';
      v[k++] = input[i] - '0';
    }
    const int year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    const int month = v[4] * 10 + v[5], day = v[6] * 10 + v[7];
    if (digits && IsValidDate(year, month, day)) return year * 10000 + month * 100 + day;
  }
  std::string narrowed = NarrowAscii(input);
  std::string_view s = Trim(narrowed);
  if (s.empty()) return Status::Invalid("empty date");
  auto bad = [&](std::string_view why) {
    return Status::Invalid(fmt::format("\"{}\" is not a date ({})", input, why));
  };
  std::string_view time;
  if (SplitTime(s, &time) && time.find_first_not_of("0:.") != std::string_view::npos) {
    return bad(fmt::format("a time of day, {}, follows the date", time));
  }

  const Era* era = nullptr;
  for (const Era& e : kEras) {
    for (const char* name : e.names) {
      std::string_view n(name);
      bool match = StartsWith(s, n) ||
                   (n.size() == 1 && !s.empty() && (s[0] == n[0] || s[0] == n[0] + ('a' - 'A')));
      if (match) {
        era = &e;
        s.remove_prefix(n.size());
        break;
      }
    }
    if (era) break;
  }

  // Numbers separated by 年 月 日 . / - (元 is year 1 of an era).
  std::vector<int> parts;
  std::vector<size_t> digits;
  size_t i = 0;
  while (i < s.size()) {
    if (era && parts.empty() && StartsWith(s.substr(i), "元")) {
      parts.push_back(1);
      digits.push_back(1);
      i += std::string_view("元").size();
    } else if (s[i] >= '0' && s[i] <= '9') {
      int v = 0;
      size_t n = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (++n > 8) return bad("number too long");
        v = v * 10 + (s[i++] - '0');
      }
      parts.push_back(v);
      digits.push_back(n);
    } else {
      return bad("unexpected character");
    }
    if (i >= s.size()) break;
    std::string_view rest = s.substr(i);
    if (rest[0] == '.' || rest[0] == '/' || rest[0] == '-') {
      ++i;
    } else if (StartsWith(rest, "年") || StartsWith(rest, "月") || StartsWith(rest, "日")) {
      i += 3;
    } else {
      return bad("unexpected character");
    }
  }

  int year, month, day;
  if (!era && parts.size() == 1 && digits[0] == 8) {
    year = parts[0] / 10000;
    month = parts[0] / 100 % 100;
    day = parts[0] % 100;
  } else if (parts.size() == 3) {
    year = parts[0];
    month = parts[1];
    day = parts[2];
    if (!era && digits[0] != 4) return bad("year must have 4 digits, or name an era such as 昭和");
  } else if (int32_t serial =
                 !era && parts.size() == 1 && digits[0] <= 7 ? SpreadsheetSerialDate(parts[0]) : 0;
             serial != 0) {
    return bad(fmt::format(
        "expected year, month and day; as a spreadsheet's date number it is {}: save the column "
        "as dates or as text",
        FormatDate(serial)));
  } else {
    return bad("expected year, month and day");
  }
  if (era) {
    if (year < 1 || year > 99) return bad("era year out of range");
    year += era->first / 10000 - 1;
  }
  if (std::string why = DateProblem(year, month, day); !why.empty()) return bad(why);
  int32_t ymd = year * 10000 + month * 100 + day;
  if (era && (ymd < era->first || ymd > era->last)) {
    // The day a year counted past an era's end stands for, in the era it falls in ("平成31年5月1日"
    // on a form printed before the change): named, not taken, since a mistyped era looks the same.
    std::string in_era;
    for (const Era& e : kEras) {
      if (ymd >= e.first && ymd <= e.last) {
        const int32_t y = year - e.first / 10000 + 1;
        in_era = fmt::format("; {} is {}{}年{}月{}日", FormatDate(ymd), e.names[0],
                             y == 1 ? std::string("元") : std::to_string(y), month, day);
        break;
      }
    }
    const std::string span = era->last == kEras[std::size(kEras) - 1].last
                                 ? "from " + FormatDate(era->first)
                                 : FormatDate(era->first) + " to " + FormatDate(era->last);
    return bad(fmt::format("outside the {} era ({}){}", era->names[0], span, in_era));
  }
  return ymd;
}

std::string FormatDate(int32_t ymd) {
  return fmt::format("{:04d}-{:02d}-{:02d}", ymd / 10000, ymd / 100 % 100, ymd % 100);
}

int32_t Today() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

}  // namespace bosai::node
