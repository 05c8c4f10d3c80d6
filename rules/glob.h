// Name globs of the rule language: `*` matches any run of characters ('/', '.' and '@'
// included) and nothing else is special. Compiled once at load time into the literal pieces
// between stars, so matching is a prefix test, a suffix test and a few substring searches.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgw::rules {

// A compiled glob. `pieces` are the literals between stars: "a*b" is {"a", "b"}, "*a" is
// {"", "a"}, "abc" is {"abc"} (no star: an exact comparison).
struct Glob {
  std::string text;  // as written in the rules file, for listings
  std::vector<std::string> pieces;
};

// How the text of a glob is read.
enum class Folding {
  exact,       // principals, jobs, databases: compared byte for byte
  identifier,  // SQL names: unquoted parts lower-cased, "Quoted" parts kept exact ("" is a quote)
};

// Compiles `text`. Returns false and sets `error` for an empty glob or an unterminated quote.
bool compile_glob(std::string_view text, Folding folding, Glob* out, std::string* error);

// Whether `name` matches the glob.
bool glob_match(const Glob& glob, std::string_view name);

// Whether `name` matches any glob of the list.
bool any_glob_match(const std::vector<Glob>& globs, std::string_view name);

// Splits a SQL name at the dots outside double quotes: `public."a.b"` is {public, "a.b"}.
std::vector<std::string_view> split_qualified(std::string_view text);

}  // namespace pgw::rules
