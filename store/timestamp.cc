// format_ts and parse_ts: RFC 3339 UTC timestamps with microseconds; parse_time_argument for
// the command line's --since and --until.
#include <fmt/format.h>

#include <charconv>
#include <chrono>

#include "store/audit.h"

namespace pgw::store {
namespace {

using std::chrono::days;
using std::chrono::microseconds;
using std::chrono::sys_days;

constexpr int64_t kUsPerSecond = 1'000'000;
constexpr int64_t kUsPerDay = 86'400 * kUsPerSecond;

// Reads exactly `width` digits of `text` at `*pos`.
bool digits(std::string_view text, size_t* pos, size_t width, int* value) {
  if (*pos + width > text.size()) return false;
  for (size_t i = *pos; i < *pos + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  std::from_chars(text.data() + *pos, text.data() + *pos + width, *value);
  *pos += width;
  return true;
}

bool literal(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

// "YYYY-MM-DD" at `*pos`, as microseconds since the epoch of that midnight UTC.
bool parse_date(std::string_view text, size_t* pos, int64_t* us) {
  int y = 0, m = 0, d = 0;
  if (!digits(text, pos, 4, &y) || !literal(text, pos, '-') || !digits(text, pos, 2, &m) ||
      !literal(text, pos, '-') || !digits(text, pos, 2, &d)) {
    return false;
  }
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{unsigned(m)},
                                  std::chrono::day{unsigned(d)}};
  if (!ymd.ok()) return false;
  *us = sys_days{ymd}.time_since_epoch().count() * kUsPerDay;
  return true;
}

// ".ffffff" (1 to 9 digits; beyond microseconds truncated), optional.
bool parse_fraction(std::string_view text, size_t* pos, int64_t* us) {
  if (!literal(text, pos, '.')) return true;
  size_t start = *pos;
  int64_t scale = 100'000;
  while (*pos < text.size() && text[*pos] >= '0' && text[*pos] <= '9') {
    *us += (text[*pos] - '0') * scale;
    scale /= 10;
    ++*pos;
  }
  return *pos > start && *pos - start <= 9;
}

// "Z" or "+HH:MM" / "-HH:MM": the offset to subtract to get UTC.
bool parse_zone(std::string_view text, size_t* pos, int64_t* offset_us) {
  if (literal(text, pos, 'Z') || literal(text, pos, 'z')) return true;
  if (*pos >= text.size() || (text[*pos] != '+' && text[*pos] != '-')) return false;
  int sign = text[(*pos)++] == '-' ? -1 : 1;
  int h = 0, m = 0;
  if (!digits(text, pos, 2, &h) || !literal(text, pos, ':') || !digits(text, pos, 2, &m) ||
      h > 23 || m > 59) {
    return false;
  }
  *offset_us = sign * (h * 3600 + m * 60) * kUsPerSecond;
  return true;
}

}  // namespace

std::string format_ts(int64_t ts_us) {
  auto tp = std::chrono::sys_time<microseconds>(microseconds(ts_us));
  sys_days day = std::chrono::floor<days>(tp);
  std::chrono::year_month_day ymd(day);
  std::chrono::hh_mm_ss time(tp - day);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", int(ymd.year()),
                     unsigned(ymd.month()), unsigned(ymd.day()), time.hours().count(),
                     time.minutes().count(), time.seconds().count(), time.subseconds().count());
}

std::optional<int64_t> parse_ts(const std::string& text) {
  size_t pos = 0;
  int64_t us = 0;
  if (!parse_date(text, &pos, &us)) return std::nullopt;
  if (pos == text.size()) return us;
  if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return std::nullopt;
  ++pos;
  int h = 0, m = 0, s = 0;
  int64_t fraction = 0, offset = 0;
  if (!digits(text, &pos, 2, &h) || !literal(text, &pos, ':') || !digits(text, &pos, 2, &m) ||
      !literal(text, &pos, ':') || !digits(text, &pos, 2, &s) || h > 23 || m > 59 || s > 59 ||
      !parse_fraction(text, &pos, &fraction) || !parse_zone(text, &pos, &offset) ||
      pos != text.size()) {
    return std::nullopt;
  }
  return us + (h * 3600 + m * 60 + s) * kUsPerSecond + fraction - offset;
}

std::optional<int64_t> parse_time_argument(std::string_view name, const std::string& text,
                                           std::string* error) {
  std::optional<int64_t> us = parse_ts(text);
  if (!us) {
    *error = fmt::format("{} \"{}\" is neither an RFC 3339 time (2026-11-23T09:34:51Z) nor a "
                         "date (2026-11-23)",
                         name, text);
  }
  return us;
}

}  // namespace pgw::store
