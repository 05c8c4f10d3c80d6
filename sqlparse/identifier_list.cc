#include "sqlparse/identifier_list.h"

namespace pgw::sql {
namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void skip_blanks(std::string_view text, size_t& i) {
  while (i < text.size() && blank(text[i])) ++i;
}

// Reads one name at `i`; false when it is malformed.
bool read_name(std::string_view text, size_t& i, std::string& name) {
  if (i < text.size() && text[i] == '"') {
    for (++i; i < text.size(); ++i) {
      if (text[i] != '"') {
        name += text[i];
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        name += '"';
        ++i;
      } else {
        ++i;
        return !name.empty();
      }
    }
    return false;  // unterminated quote
  }
  while (i < text.size() && text[i] != ',' && !blank(text[i])) {
    char c = text[i++];
    name += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return !name.empty();
}

}  // namespace

std::optional<std::vector<std::string>> split_identifier_list(std::string_view text) {
  std::vector<std::string> names;
  size_t i = 0;
  skip_blanks(text, i);
  if (i == text.size()) return names;  // an empty list
  while (true) {
    std::string name;
    if (!read_name(text, i, name)) return std::nullopt;
    names.push_back(std::move(name));
    skip_blanks(text, i);
    if (i == text.size()) return names;
    if (text[i] != ',') return std::nullopt;
    ++i;
    skip_blanks(text, i);
  }
}

}  // namespace pgw::sql
