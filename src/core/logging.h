// Logging: a thin front over spdlog so that only logging.cc pays for its headers.
#ifndef SOBRE_CORE_LOGGING_H_
#define SOBRE_CORE_LOGGING_H_

#include <string_view>

#include <fmt/core.h>

#include "core/status.h"

namespace sobre {

enum class LogLevel { kDebug, kInfo, kWarning, kError, kOff };

// Parses "debug", "info", "warning"/"warn", "error" or "off".
StatusOr<LogLevel> ParseLogLevel(std::string_view name);

// Sets the process-wide threshold. Logs go to stderr. Thread-safe.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Writes one line at `level`. Thread-safe.
void LogLine(LogLevel level, std::string_view message);

}  // namespace sobre

// SOBRE_LOG(kInfo, "read {} domains", n): formats with fmt only when the level is enabled.
#define SOBRE_LOG(level, ...)                                             \
  do {                                                                    \
    if (::sobre::LogEnabled(::sobre::LogLevel::level)) {                  \
      ::sobre::LogLine(::sobre::LogLevel::level, fmt::format(__VA_ARGS__)); \
    }                                                                     \
  } while (0)

#endif  // SOBRE_CORE_LOGGING_H_
