#include "store/text_format.h"

#include <nlohmann/json.hpp>

namespace pgw::store {

void write_csv_field(std::ostream& out, std::string_view value) {
  if (value.find_first_of(std::string_view(",\"\r\n\0", 5)) == std::string_view::npos) {
    out << value;
    return;
  }
  out << '"';
  for (size_t start = 0;;) {
    size_t quote = value.find('"', start);
    out << value.substr(start, quote - start);
    if (quote == std::string_view::npos) break;
    out << "\"\"";
    start = quote + 1;
  }
  out << '"';
}

void write_json_string(std::ostream& out, std::string_view value) {
  out << nlohmann::json(std::string(value))
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace pgw::store
