// Structured logs; see log.h.
#include "sync/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace bosai {

void InitLogging() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_logger_mt("bosai");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
  });
}

void LogEvent(spdlog::level::level_enum level, std::string_view event,
              std::initializer_list<LogField> fields) {
  std::string line = "event=";
  line += event;
  for (const auto& [key, value] : fields) {
    line += ' ';
    line += key;
    line += '=';
    bool quote = value.empty() || value.find_first_of(" \"=\t\n") != std::string::npos;
    if (!quote) {
      line += value;
      continue;
    }
    line += '"';
    for (char c : value) {
      if (c == '"' || c == '\\') line += '\\';
      line += c == '\n' ? ' ' : c;
    }
    line += '"';
  }
  InitLogging();
  spdlog::log(level, "{}", line);
}

}  // namespace bosai
