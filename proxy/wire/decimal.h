// Reading numbers written in decimal: one function for every number pgwarden takes from text
// (configuration, console commands, catalog replies, SCRAM attributes), so none of them can throw
// on an overflow or accept trailing garbage.
#pragma once

#include <charconv>
#include <string_view>

namespace pgw {

// Parses `text` if it is only decimal digits and fits in T; false otherwise (no sign, no spaces).
template <typename T>
bool parse_decimal(std::string_view text, T* out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace pgw
