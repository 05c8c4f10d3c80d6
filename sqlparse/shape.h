// Literal shapes inside sqlparse: where a text's literals are (literal_shape() in facts.h gives
// the text with them replaced), and fingerprints of data statements cached by their shape.
// libpg_query's fingerprint costs a second parse of the statement; in a statement whose literals
// are all constants, which the fingerprint ignores, statements that differ only in their
// literals (pgbench's `WHERE aid = 4711`, an application's generated queries) share one
// fingerprint and one parse for it per thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgw::sql {

// One literal of a text, by byte range: a string from its prefix (E, B, X) or its opening quote
// to its closing quote, or a number from its first digit or point to the end of its exponent.
// `begin` is where PostgreSQL's lexer starts the token, which is where the grammar locates the
// constant made of it.
struct LiteralSpan {
  size_t begin = 0;
  size_t end = 0;
};

// The literals of `text` in order, as literal_shape() reads them; nullopt when it has no shape.
std::optional<std::vector<LiteralSpan>> literal_spans(std::string_view text);

// libpg_query's fingerprint of one SELECT, INSERT, UPDATE or DELETE statement whose literals
// are all constants (the caller knows both from its parse), from this thread's cache when a
// statement of the same literal shape was fingerprinted before. Not for other statements: a
// number may be an option the fingerprint keeps (CREATE SEQUENCE s START 2), or a type's
// precision or array bound (x::float(10) is float4, x::float(30) float8).
std::string dml_fingerprint(std::string_view statement);

}  // namespace pgw::sql
