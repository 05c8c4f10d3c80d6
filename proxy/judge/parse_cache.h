// Recently parsed SQL strings and their facts, one cache per event-loop thread (its worker owns
// it). Drivers that use the extended protocol send the same text with every execution (an
// unnamed Parse per statement), and applications repeat the same simple queries; a hit skips
// libpg_query's parse and fingerprint, which cost more than everything else pgwarden does to
// judge a statement.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sqlparse/facts.h"

namespace pgw {

// Parsed texts by search path, options and text; used by one thread at a time.
struct ParseCache {
  std::unordered_map<std::string, sql::ParseResult> entries;
  size_t bytes = 0;  // what the entries count for against the bound
  // Hashes of keys seen once: a text is cached the second time it is parsed, so that texts
  // carrying their own literal values, seldom seen twice, do not churn the cache.
  std::unordered_set<size_t> seen;
};

// sql::parse(text, search_path, options), from `cache` when the same text was parsed with the
// same path and options before.
sql::ParseResult parse_cached(ParseCache& cache, std::string_view text, const std::vector<std::string>& search_path,
                              const sql::ParseOptions& options);

}  // namespace pgw
