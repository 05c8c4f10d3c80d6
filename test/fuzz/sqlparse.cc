// Fuzzes sqlparse on arbitrary SQL text: the facts of every statement (with fingerprints and
// normalized text), the COPY TO STDOUT options of each statement, and the text's literal shape.
// Every statement's byte range must lie within the text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sqlparse/facts.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> path{"public"};
  pgw::sql::ParseResult result = pgw::sql::parse(text, path, {.fingerprint = true, .normalize = true});
  for (const auto& s : result.statements) {
    if (s.offset > text.size() || s.length > text.size() - s.offset) __builtin_trap();
    std::string_view one = text.substr(s.offset, s.length);
    pgw::sql::copy_to_stdout(one);
  }
  pgw::sql::literal_shape(text);
  return 0;
}
