#include "proxy/judge/parse_cache.h"

namespace pgw {
namespace {

// Bounds of the cache: a full cache is emptied and refills with what is in use. An entry is
// counted as twice its key (the text and its facts).
constexpr size_t kMaxTextBytes = 8192;
constexpr size_t kMaxBytes = 8 << 20;
// Most hashes of texts seen once that are remembered before the list starts afresh.
constexpr size_t kMaxSeen = 32768;

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

sql::ParseResult parse_cached(ParseCache& cache, std::string_view text, const std::vector<std::string>& search_path,
                              const sql::ParseOptions& options) {
  if (text.size() > kMaxTextBytes) return sql::parse(text, search_path, options);
  std::string key = cache_key(text, search_path, options);
  if (auto it = cache.entries.find(key); it != cache.entries.end()) return it->second;
  sql::ParseResult parsed = sql::parse(text, search_path, options);
  if (cache.seen.insert(std::hash<std::string>{}(key)).second) {
    if (cache.seen.size() >= kMaxSeen) cache.seen.clear();
    return parsed;
  }
  if (cache.bytes + 2 * key.size() > kMaxBytes) {
    cache.entries.clear();
    cache.bytes = 0;
  }
  cache.bytes += 2 * key.size();
  cache.entries.emplace(std::move(key), parsed);
  return parsed;
}

}  // namespace pgw
