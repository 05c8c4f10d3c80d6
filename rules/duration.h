// Durations in rules files: a number and a unit, repeated ("30s", "15m", "2h", "1d", "1h30m").
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace pgw::rules {

// Parses a duration; nullopt when malformed or zero.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace pgw::rules
