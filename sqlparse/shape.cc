#include "sqlparse/shape.h"

#include <unordered_map>

#include "sqlparse/facts.h"

namespace pgw::sql {
namespace {

// Bounds of each thread's cache: a full cache is emptied and refills with the shapes in use.
constexpr size_t kMaxShapeBytes = 8192;
constexpr size_t kMaxBytes = 4 << 20;

bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool starts_name(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool continues_name(unsigned char c) { return starts_name(c) || is_digit(c) || c == '$'; }

// The end of the quoted item (string or quoted name) opening at `open`, past its closing quote;
// a doubled quote inside is part of it. npos if it is not closed.
size_t quoted_end(std::string_view text, size_t open) {
  char quote = text[open];
  for (size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] != quote) continue;
    if (i + 1 < text.size() && text[i + 1] == quote) {
      ++i;
      continue;
    }
    return i + 1;
  }
  return std::string_view::npos;
}

size_t run_end(std::string_view text, size_t i, bool (*in_run)(unsigned char)) {
  while (i < text.size() && in_run(static_cast<unsigned char>(text[i]))) ++i;
  return i;
}

}  // namespace

std::optional<std::string> literal_shape(std::string_view text) {
  std::string shape;
  shape.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::string_view two = text.substr(i, 2);
    if (c == '\\' || c == '\0' || two == "--" || two == "/*") return std::nullopt;
    size_t end = i + 1;
    if (starts_name(c)) {
      end = run_end(text, i, continues_name);
      shape.append(text.substr(i, end - i));
    } else if (c == '"' || c == '\'') {
      end = quoted_end(text, i);
      if (end == std::string_view::npos) return std::nullopt;
      if (c == '"') shape.append(text.substr(i, end - i));
      else shape.append({'\'', kLiteralMark, '\''});
    } else if (c == '$') {
      end = run_end(text, i + 1, is_digit);
      if (end == i + 1) return std::nullopt;  // a dollar quote, not a parameter
      shape.append(text.substr(i, end - i));
    } else if (is_digit(c)) {
      end = run_end(text, i, is_digit);
      shape.push_back(kLiteralMark);
    } else {
      shape.push_back(static_cast<char>(c));
    }
    i = end;
  }
  return shape;
}

std::string dml_fingerprint(std::string_view statement) {
  if (statement.size() > kMaxShapeBytes) return fingerprint(statement);
  std::optional<std::string> shape = literal_shape(statement);
  if (!shape) return fingerprint(statement);
  thread_local std::unordered_map<std::string, std::string> cache;
  thread_local size_t bytes = 0;
  if (auto it = cache.find(*shape); it != cache.end()) return it->second;
  std::string fp = fingerprint(statement);
  if (fp.empty()) return fp;
  if (bytes + shape->size() > kMaxBytes) {
    cache.clear();
    bytes = 0;
  }
  bytes += shape->size();
  cache.emplace(std::move(*shape), fp);
  return fp;
}

}  // namespace pgw::sql
