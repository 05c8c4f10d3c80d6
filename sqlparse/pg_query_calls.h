// libpg_query calls with their results owned: every path frees what libpg_query allocated.
// libpg_query keeps its memory contexts per thread, so these are safe from several threads.
#pragma once

#include <string>
#include <string_view>

namespace pgw::sql {

// The JSON parse tree of `sql` (NUL-terminated), or the parser's error.
struct RawParse {
  std::string json;
  std::string error;
  int error_cursor = 0;  // 1-based character (not byte) position, 0 if unknown
};

// Runs pg_query_parse on `sql`.
RawParse raw_parse(const std::string& sql);

// 1-based byte position in UTF-8 `text` of the 1-based character position `cursor`.
int byte_position(std::string_view text, int cursor);

}  // namespace pgw::sql
