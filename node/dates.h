// Dates as people write them on register extracts (DESIGN §3): ISO (2024-01-01, 2024/1/1,
// 20240101, 2024年1月1日) and 和暦 (昭和50年4月1日, 平成元年, S50.4.1, R2.3.31, 昭50.4.1, with
// full-width digits), followed or not by a midnight time of day as a spreadsheet writes it
// (2024/1/1 0:00). Stored as the integer YYYYMMDD. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/status.h"

namespace bosai::node {

// YYYYMMDD, or an error naming what is wrong with the text.
Result<int32_t> ParseDate(std::string_view text);
// "YYYY-MM-DD".
std::string FormatDate(int32_t yyyymmdd);
bool IsValidDate(int year, int month, int day);
// Today in local time as YYYYMMDD.
int32_t Today();

}  // namespace bosai::node
