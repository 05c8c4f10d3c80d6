// Fingerprints of data statements by their literal shape. libpg_query's fingerprint costs a
// second parse of the statement; in a SELECT, INSERT, UPDATE or DELETE every literal is a
// constant, which the fingerprint ignores, so statements that differ only in their literals
// (pgbench's `WHERE aid = 4711`, an application's generated queries) share one fingerprint and
// one parse for it per thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgw::sql {

// Marks where a literal's value was in a shape. Statement text never holds a zero byte (parse()
// refuses it), so a marker is never confused with the text around it.
inline constexpr char kLiteralMark = '\0';

// `text` with every run of digits outside names and every '...' string's contents replaced by
// kLiteralMark, or nullopt when the text holds something this scan cannot tell apart from a
// literal for sure: a comment, a dollar quote, a backslash, an unterminated quote, a zero byte.
// Two texts of one shape differ only in the values of their literals.
std::optional<std::string> literal_shape(std::string_view text);

// libpg_query's fingerprint of one SELECT, INSERT, UPDATE or DELETE statement (the caller knows
// it is one from its parse), from this thread's cache when a statement of the same literal shape
// was fingerprinted before. Not for other statements: elsewhere a number may be an option the
// fingerprint keeps, as in CREATE SEQUENCE s START 2.
std::string dml_fingerprint(std::string_view statement);

}  // namespace pgw::sql
