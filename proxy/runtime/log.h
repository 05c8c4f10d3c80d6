// Structured logs: one line per event on stderr, `ts=... level=... event=... key=value ...`, so
// operators can grep and ship them. Values with spaces or quotes are quoted. Never pass secrets.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace pgw {

enum class LogLevel { debug, info, warn, error };

using LogField = std::pair<std::string_view, std::string_view>;

void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields);
// Only events at `level` and above are written (default info).
void set_log_level(LogLevel level);

}  // namespace pgw
