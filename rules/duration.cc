#include "rules/duration.h"

#include <charconv>

namespace pgw::rules {

namespace {

// Seconds in one unit; 0 for an unknown unit letter.
long long unit_seconds(char unit) {
  switch (unit) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3600;
    case 'd': return 86400;
    default: return 0;
  }
}

}  // namespace

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  long long total = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  if (p == end) return std::nullopt;
  while (p != end) {
    long long n = 0;
    auto [next, ec] = std::from_chars(p, end, n);
    if (ec != std::errc() || next == end || n < 0 || n > 1'000'000'000) return std::nullopt;
    long long unit = unit_seconds(*next);
    if (unit == 0) return std::nullopt;
    total += n * unit;
    p = next + 1;
  }
  if (total <= 0) return std::nullopt;
  return std::chrono::seconds(total);
}

}  // namespace pgw::rules
