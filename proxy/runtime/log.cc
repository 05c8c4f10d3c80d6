#include "proxy/runtime/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace pgw {

namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::info)};

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

void append_value(std::string& line, std::string_view v) {
  bool plain = !v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) plain = false;
  if (plain) {
    line.append(v);
    return;
  }
  line.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') {
      line.push_back('\\');
      line.push_back(c);
    } else if (c == '\n') {
      line.append("\\n");
    } else if (static_cast<unsigned char>(c) < 0x20) {
      line.push_back(' ');
    } else {
      line.push_back(c);
    }
  }
  line.push_back('"');
}

}  // namespace

void set_log_level(LogLevel level) { g_min_level = static_cast<int>(level); }

void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < g_min_level) return;
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  long micros = static_cast<long>(
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  std::string line = "ts=";
  line += ts;
  line += " level=";
  line += level_name(level);
  line += " event=";
  line.append(event);
  for (const auto& [k, v] : fields) {
    line.push_back(' ');
    line.append(k);
    line.push_back('=');
    append_value(line, v);
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace pgw
