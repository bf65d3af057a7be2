// Structured logs (logfmt on stderr, via spdlog): one line per event,
//   2026-11-26T12:00:00.123+0000 info event=sync.session.caught_up peer=042021-b sent=12 ...
// so operators can grep and tools can parse them. Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace bosai {

using LogField = std::pair<std::string_view, std::string>;

// Sets the line pattern once (idempotent).
void InitLogging();
// Logs `event=<event> k=v ...`; values with spaces or quotes are quoted.
void LogEvent(spdlog::level::level_enum level, std::string_view event,
              std::initializer_list<LogField> fields = {});

}  // namespace bosai
