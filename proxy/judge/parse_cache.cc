#include "proxy/judge/parse_cache.h"

#include <optional>

namespace pgw {
namespace {

// Bounds of the cache: a full cache is emptied and refills with what is in use. An entry is
// counted as twice its key (the text or shape, and its facts).
constexpr size_t kMaxTextBytes = 8192;
constexpr size_t kMaxBytes = 8 << 20;
// Most hashes of texts seen once that are remembered before the list starts afresh.
constexpr size_t kMaxSeen = 32768;

// Writes what a key starts with into `key`: the options, then the search path, its entries
// counted and each preceded by its length, so that distinct paths never run into the text or
// shape after them.
void key_prefix(std::string& key, const std::vector<std::string>& search_path, const sql::ParseOptions& options) {
  key.assign({options.fingerprint ? 'f' : '-', options.normalize ? 'n' : '-'});
  key += std::to_string(search_path.size());
  for (const auto& entry : search_path) {
    key += ':';
    key += std::to_string(entry.size());
    key += ':';
    key += entry;
  }
  key += ';';
}

// Makes room for an entry of `key_bytes`.
void reserve(ParseCache& cache, size_t key_bytes) {
  if (cache.bytes + 2 * key_bytes > kMaxBytes) {
    cache.shapes.clear();
    cache.texts.clear();
    cache.bytes = 0;
  }
  cache.bytes += 2 * key_bytes;
}

// What parsing `text` gives, from the entry of its shape.
sql::ParseResult of_shape(const ShapeEntry& entry, std::string_view text) {
  sql::ParseResult out;
  out.shape_invariant = true;
  sql::StatementFacts& f = out.statements.emplace_back(entry.facts);
  f.length = text.size() - f.offset - entry.trailing;
  return out;
}

}  // namespace

sql::ParseResult parse_cached(ParseCache& cache, std::string_view text, const std::vector<std::string>& search_path,
                              const sql::ParseOptions& options) {
  if (text.size() > kMaxTextBytes) return sql::parse(text, search_path, options);
  std::string& key = cache.key;
  key_prefix(key, search_path, options);
  size_t prefix = key.size();
  std::optional<std::string> shape = sql::literal_shape(text);
  if (shape) {
    key += *shape;
    if (auto it = cache.shapes.find(key); it != cache.shapes.end()) return of_shape(it->second, text);
    key.resize(prefix);
  }
  key += text;
  if (auto it = cache.texts.find(key); it != cache.texts.end()) return it->second;
  sql::ParseResult parsed = sql::parse(text, search_path, options);
  if (shape && parsed.shape_invariant) {
    const sql::StatementFacts& f = parsed.statements.front();
    key.resize(prefix);
    key += *shape;
    reserve(cache, key.size());
    cache.shapes.emplace(key, ShapeEntry{f, text.size() - f.offset - f.length});
    return parsed;
  }
  if (cache.seen.insert(std::hash<std::string>{}(key)).second) {
    if (cache.seen.size() >= kMaxSeen) cache.seen.clear();
    return parsed;
  }
  reserve(cache, key.size());
  cache.texts.emplace(key, parsed);
  return parsed;
}

}  // namespace pgw
