#include "store/text_format.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace pgw::store {

namespace {

constexpr auto kReplaceInvalid = nlohmann::json::error_handler_t::replace;

bool is_ascii(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

std::string valid_utf8(std::string_view value) {
  return nlohmann::json::parse(nlohmann::json(std::string(value)).dump(-1, ' ', false, kReplaceInvalid))
      .get<std::string>();
}

void write_csv_field(std::ostream& out, std::string_view value) {
  std::string replaced;
  if (!is_ascii(value)) {
    replaced = valid_utf8(value);
    value = replaced;
  }
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
  out << nlohmann::json(std::string(value)).dump(-1, ' ', false, kReplaceInvalid);
}

}  // namespace pgw::store
