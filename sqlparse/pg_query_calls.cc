#include "sqlparse/pg_query_calls.h"

#include <pg_query.h>

#include "sqlparse/facts.h"

namespace pgw::sql {
namespace {

// Copies libpg_query's C string, "" for null.
std::string copy(const char* s) { return s ? std::string(s) : std::string(); }

}  // namespace

RawParse raw_parse(const std::string& sql) {
  PgQueryParseResult result = pg_query_parse(sql.c_str());
  RawParse out;
  if (result.error) {
    out.error = copy(result.error->message);
    out.error_cursor = result.error->cursorpos;
  } else {
    out.json = copy(result.parse_tree);
  }
  pg_query_free_parse_result(result);
  return out;
}

int byte_position(std::string_view text, int cursor) {
  if (cursor <= 0) return 0;
  int characters = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    bool starts_character = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (starts_character && ++characters == cursor) return static_cast<int>(i) + 1;
  }
  return static_cast<int>(text.size()) + 1;  // at the end of the input
}

std::string fingerprint(std::string_view statement) {
  std::string text(statement);
  PgQueryFingerprintResult result = pg_query_fingerprint(text.c_str());
  std::string out = result.error ? std::string() : copy(result.fingerprint_str);
  pg_query_free_fingerprint_result(result);
  return out;
}

std::string normalize(std::string_view statement) {
  std::string text(statement);
  PgQueryNormalizeResult result = pg_query_normalize(text.c_str());
  std::string out = result.error ? std::string() : copy(result.normalized_query);
  pg_query_free_normalize_result(result);
  return out;
}

}  // namespace pgw::sql
