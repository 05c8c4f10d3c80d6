#include "rules/glob.h"

namespace pgw::rules {

namespace {

char fold_char(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Reads one glob into literal pieces; inside double quotes (identifier folding only) every
// character is literal, `*` included.
bool read_pieces(std::string_view text, Folding folding, std::vector<std::string>* pieces,
                 std::string* error) {
  pieces->assign(1, std::string());
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (folding == Folding::identifier && c == '"') {
      if (quoted && i + 1 < text.size() && text[i + 1] == '"') {
        pieces->back() += '"';
        ++i;
      } else {
        quoted = !quoted;
      }
    } else if (c == '*' && !quoted) {
      if (!pieces->back().empty() || pieces->size() == 1) pieces->emplace_back();
    } else {
      pieces->back() += (folding == Folding::identifier && !quoted) ? fold_char(c) : c;
    }
  }
  if (quoted) {
    *error = "unterminated double quote in \"" + std::string(text) + "\"";
    return false;
  }
  return true;
}

}  // namespace

bool compile_glob(std::string_view text, Folding folding, Glob* out, std::string* error) {
  if (text.empty()) {
    *error = "empty name pattern";
    return false;
  }
  out->text = std::string(text);
  return read_pieces(text, folding, &out->pieces, error);
}

bool glob_match(const Glob& glob, std::string_view name) {
  const std::vector<std::string>& p = glob.pieces;
  if (p.size() == 1) return name == p[0];
  const std::string& first = p.front();
  const std::string& last = p.back();
  if (name.size() < first.size() + last.size()) return false;
  if (name.substr(0, first.size()) != first) return false;
  if (name.substr(name.size() - last.size()) != last) return false;
  std::string_view middle = name.substr(first.size(), name.size() - first.size() - last.size());
  for (size_t i = 1; i + 1 < p.size(); ++i) {
    size_t at = middle.find(p[i]);
    if (at == std::string_view::npos) return false;
    middle.remove_prefix(at + p[i].size());
  }
  return true;
}

bool any_glob_match(const std::vector<Glob>& globs, std::string_view name) {
  for (const Glob& g : globs) {
    if (glob_match(g, name)) return true;
  }
  return false;
}

std::vector<std::string_view> split_qualified(std::string_view text) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') quoted = !quoted;
    if (text[i] == '.' && !quoted) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

}  // namespace pgw::rules
