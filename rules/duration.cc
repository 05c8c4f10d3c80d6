#include "rules/duration.h"

#include <charconv>
#include <utility>

namespace pgw::rules {

namespace {

constexpr long long kMaxMs = 100LL * 365 * 86'400'000;

// Milliseconds in the unit at the start of `unit` and the unit's length; {0, 0} if unknown.
std::pair<long long, size_t> unit_ms(std::string_view unit) {
  if (unit.starts_with("ms")) return {1, 2};
  switch (unit.empty() ? '\0' : unit[0]) {
    case 's': return {1000, 1};
    case 'm': return {60'000, 1};
    case 'h': return {3'600'000, 1};
    case 'd': return {86'400'000, 1};
    default: return {0, 0};
  }
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  bool bare_seconds = text.find_first_not_of("0123456789") == std::string_view::npos;
  long long total = 0;
  while (!text.empty()) {
    long long n = 0;
    auto [next, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || n < 0) return std::nullopt;
    text.remove_prefix(static_cast<size_t>(next - text.data()));
    auto [ms, length] = bare_seconds ? std::pair<long long, size_t>{1000, 0} : unit_ms(text);
    if (ms == 0 || n > (kMaxMs - total) / ms) return std::nullopt;
    total += n * ms;
    text.remove_prefix(length);
  }
  return std::chrono::milliseconds(total);
}

}  // namespace pgw::rules
