// Durations, one syntax for the configuration and the rules files: a number and a unit, repeated
// ("30s", "15m", "2h", "1d", "500ms", "1h30m"), or a bare number of seconds ("30").
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace pgw::rules {

// Parses a duration; nullopt when malformed or longer than 100 years. Zero ("0s") is a duration:
// the caller decides whether it means anything.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace pgw::rules
