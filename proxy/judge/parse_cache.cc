#include "proxy/judge/parse_cache.h"

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace pgw {
namespace {

// Bounds of the cache: a full cache is emptied and refills with what is in use. An entry is
// counted as twice its key (the text and its facts).
constexpr size_t kMaxTextBytes = 8192;
constexpr size_t kMaxBytes = 8 << 20;
// Most hashes of texts seen once that are remembered before the list starts afresh.
constexpr size_t kMaxSeen = 32768;

// Parses `text`; a statement that changes search_path changes how the ones after it in the same
// string resolve unqualified names, so the rest is parsed again with the new path.
sql::ParseResult parse_in_order(std::string_view text, std::vector<std::string> path,
                                const sql::ParseOptions& options) {
  sql::ParseResult all = sql::parse(text, path, options);
  if (!all.ok()) return all;
  for (size_t i = 0; i + 1 < all.statements.size(); ++i) {
    const auto& f = all.statements[i];
    if (!f.sets_search_path) continue;
    path = f.sets_search_path->empty() ? std::vector<std::string>{"public"} : *f.sets_search_path;
    size_t from = f.offset + f.length;
    sql::ParseResult rest = sql::parse(text.substr(from), path, options);
    if (!rest.ok()) return all;
    all.statements.resize(i + 1);
    for (auto& r : rest.statements) {
      r.offset += from;
      all.statements.push_back(std::move(r));
    }
  }
  return all;
}

// The options, the search path, then the text: no path entry holds a NUL, so distinct triples
// give distinct keys.
std::string cache_key(std::string_view text, const std::vector<std::string>& search_path,
                      const sql::ParseOptions& options) {
  std::string key{options.fingerprint ? 'f' : '-', options.normalize ? 'n' : '-'};
  for (const auto& entry : search_path) {
    key += entry;
    key += '\0';
  }
  key += '\0';
  key += text;
  return key;
}

}  // namespace

sql::ParseResult parse_cached(std::string_view text, const std::vector<std::string>& search_path,
                              const sql::ParseOptions& options) {
  if (text.size() > kMaxTextBytes) return parse_in_order(text, search_path, options);
  thread_local std::unordered_map<std::string, sql::ParseResult> cache;
  thread_local size_t bytes = 0;
  // Hashes of keys seen once: a text is cached the second time it is parsed, so that texts
  // carrying their own literal values, seldom seen twice, do not churn the cache.
  thread_local std::unordered_set<size_t> seen;
  std::string key = cache_key(text, search_path, options);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  sql::ParseResult parsed = parse_in_order(text, search_path, options);
  if (seen.insert(std::hash<std::string>{}(key)).second) {
    if (seen.size() >= kMaxSeen) seen.clear();
    return parsed;
  }
  if (bytes + 2 * key.size() > kMaxBytes) {
    cache.clear();
    bytes = 0;
  }
  bytes += 2 * key.size();
  cache.emplace(std::move(key), parsed);
  return parsed;
}

}  // namespace pgw
