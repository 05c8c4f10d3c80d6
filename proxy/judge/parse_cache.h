// Recently parsed SQL strings and their facts, kept per event-loop thread. Drivers that use the
// extended protocol send the same text with every execution (an unnamed Parse per statement),
// and applications repeat the same simple queries; a hit skips libpg_query's parse and
// fingerprint, which cost more than everything else pgwarden does to judge a statement.
#pragma once

#include <string_view>
#include <vector>

#include "sqlparse/facts.h"

namespace pgw {

// The facts of `text` parsed with `search_path` and `options` (statements after a search_path
// change resolved with the new path), from this thread's cache when the same text was parsed
// with the same path and options before.
sql::ParseResult parse_cached(std::string_view text, const std::vector<std::string>& search_path,
                              const sql::ParseOptions& options);

}  // namespace pgw
