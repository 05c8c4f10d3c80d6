// Recently parsed SQL and its facts, one cache per event-loop thread (its worker owns it). A hit
// skips libpg_query's parse and fingerprint, which cost more than everything else pgwarden does
// to judge a statement. A text is found in one of two ways:
//  - by its literal shape (sql::literal_shape): pgbench and applications send the same statement
//    with other values every time (`WHERE aid = 4711`), seldom the same text twice. A text whose
//    facts hold for every text of its shape (sql::ParseResult::shape_invariant: one SELECT,
//    INSERT, UPDATE or DELETE whose literals are constants no fact reads) is kept by its shape
//    the first time it is parsed; a text of that shape gets those facts, with the statement's
//    byte range measured in it;
//  - by its exact text, for everything else (SET, BEGIN, DDL, several statements, a text the
//    shape scan refuses): drivers that use the extended protocol send the same text with every
//    execution. Such a text is kept the second time it is parsed, so that texts carrying their
//    own literal values, seldom seen twice, do not churn the cache.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sqlparse/facts.h"

namespace pgw {

// The facts kept for a literal shape: those of the first text of the shape parsed.
struct ShapeEntry {
  sql::StatementFacts facts;
  // Bytes after the statement (';', whitespace): outside the literals, so the same in every
  // text of the shape, as is facts.offset; the length is what remains.
  size_t trailing = 0;
};

// Parsed texts and shapes by search path and options; used by one thread at a time.
struct ParseCache {
  std::unordered_map<std::string, ShapeEntry> shapes;
  std::unordered_map<std::string, sql::ParseResult> texts;
  size_t bytes = 0;  // what the entries of both count for against the bound
  // Hashes of texts seen once: a text that has no shape entry is cached the second time.
  std::unordered_set<size_t> seen;
  std::string key;  // where lookups build their key, kept to reuse its memory
};

// sql::parse(text, search_path, options), from `cache` when a text of the same literal shape
// (for a shape-invariant statement) or the same text was parsed with the same path and options.
sql::ParseResult parse_cached(ParseCache& cache, std::string_view text, const std::vector<std::string>& search_path,
                              const sql::ParseOptions& options);

}  // namespace pgw
