// Writing one field of an export: CSV (RFC 4180) and JSON string escaping.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

namespace pgw::store {

// `value` with every byte that is not part of valid UTF-8 replaced by U+FFFD, as JSON writes it.
std::string valid_utf8(std::string_view value);

// Writes `value` as one CSV field: quoted, with quotes doubled, when it holds a comma, a quote,
// CR, LF or NUL; as it is otherwise. Bytes that are not valid UTF-8 become U+FFFD, as in JSON
// lines, so that both exports say the same (a client's invalid bytes in `parameters`, say).
void write_csv_field(std::ostream& out, std::string_view value);

// Writes `value` as a JSON string literal. Bytes that are not valid UTF-8 become U+FFFD, since
// JSON text must be UTF-8.
void write_json_string(std::ostream& out, std::string_view value);

}  // namespace pgw::store
