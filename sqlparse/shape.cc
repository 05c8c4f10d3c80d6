// The literal scan follows PostgreSQL 15's lexer (src/backend/parser/scan.l) where it matters:
//  - names run on over letters, digits, '_', '$' and bytes >= 0x80, so digits in a name are
//    part of it; $n is a parameter, kept as written;
//  - a string opens with ' (or E', N', which read like '...' without backslashes); '' inside
//    stands for a quote. B'...' and X'...' strings take no doubled quote: B'1''1' is B'1'
//    followed by '1';
//  - a number is digits, an optional point and digits (or a point and digits), an optional
//    exponent e[+-]digits; `..` is a token of its own, so 1..2 is 1, `..`, 2. A letter right
//    after a number is an error (trailing junk) or ends a failed exponent: refused;
//  - strings go on after a newline: 'a'\n'b' is one string, kept as two in the shape; a bit
//    string's continuation follows bit string rules: refused;
//  - `--` and `/*` open comments anywhere outside quotes, also inside an operator (1--1);
//    a '$' not followed by digits may open a dollar quote: all refused, as are U&'' and U&""
//    (their UESCAPE string decides how they read) and backslashes anywhere (escapes in E''
//    strings and, with standard_conforming_strings off, in '' strings).
#include "sqlparse/shape.h"

#include <simdjson.h>

#include <array>
#include <unordered_map>

#include "sqlparse/facts.h"

namespace pgw::sql {
namespace {

// Bounds of each thread's fingerprint cache: a full cache is emptied and refills with the shapes
// in use.
constexpr size_t kMaxShapeBytes = 8192;
constexpr size_t kMaxBytes = 4 << 20;

constexpr bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
constexpr bool starts_name(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
constexpr bool continues_name(unsigned char c) { return starts_name(c) || is_digit(c) || c == '$'; }
unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; }

// A class of bytes as a table, for the scan's inner loops.
using ByteClass = std::array<bool, 256>;
constexpr ByteClass byte_class(bool (*in_class)(unsigned char)) {
  ByteClass table{};
  for (unsigned c = 0; c < table.size(); ++c) table[c] = in_class(static_cast<unsigned char>(c));
  return table;
}
constexpr ByteClass kDigits = byte_class(is_digit);
constexpr ByteClass kNameBytes = byte_class(continues_name);
// Bytes that begin no name, number, string, quoted name, parameter or comment: blanks, most
// operators and punctuation, kept as they are.
constexpr ByteClass kPlain = byte_class([](unsigned char c) {
  return !starts_name(c) && !is_digit(c) && c != '\'' && c != '"' && c != '$' && c != '.' && c != '-' && c != '/';
});

size_t run_end(std::string_view text, size_t i, const ByteClass& in_run) {
  while (i < text.size() && in_run[static_cast<unsigned char>(text[i])]) ++i;
  return i;
}

// The closing quote of the quoted item (string or quoted name) opening at `open`; a doubled
// quote inside is part of it. npos if it is not closed.
size_t closing_quote(std::string_view text, size_t open) {
  char quote = text[open];
  for (size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] != quote) continue;
    if (i + 1 < text.size() && text[i + 1] == quote) {
      ++i;
      continue;
    }
    return i;
  }
  return std::string_view::npos;
}

// One pass over a text, writing its shape, its literals' spans, or both.
struct Scan {
  std::string_view text;
  std::string* shape = nullptr;
  std::vector<LiteralSpan>* literals = nullptr;
  size_t i = 0;
  size_t copied = 0;  // the shape holds the text up to here

  // The byte at `j`, 0 past the end (the text holds no zero byte).
  unsigned char at(size_t j) const { return j < text.size() ? static_cast<unsigned char>(text[j]) : 0; }
  // Keeps the text up to `end` in the shape (copied when a mark or the end comes).
  void keep(size_t end) { i = end; }
  // Replaces the text up to `end` by one mark.
  void mark(size_t end) {
    if (shape) {
      shape->append(text.substr(copied, i - copied));
      shape->push_back(kLiteralMark);
    }
    i = copied = end;
  }
  void literal(size_t begin) {
    if (literals) literals->push_back({begin, i});
  }

  // Whether a string closing before `j` goes on in a quote after whitespace holding a newline.
  bool continued(size_t j) const {
    while (at(j) == ' ' || at(j) == '\t' || at(j) == '\f') ++j;
    if (at(j) != '\n' && at(j) != '\r') return false;
    while (at(j) == ' ' || at(j) == '\t' || at(j) == '\f' || at(j) == '\v' || at(j) == '\n' || at(j) == '\r') ++j;
    return at(j) == '\'';
  }

  // The string whose token begins at `begin` (its prefix, if any) and whose quote is at i. A bit
  // string's continuation would be read as a bit string too: refused.
  bool string(size_t begin) {
    unsigned char prefix = lower(at(begin));
    bool bits = i > begin && (prefix == 'b' || prefix == 'x');
    size_t close = bits ? text.find('\'', i + 1) : closing_quote(text, i);
    if (close == std::string_view::npos || (bits && continued(close + 1))) return false;
    keep(i + 1);
    mark(close);
    keep(close + 1);
    literal(begin);
    return true;
  }

  // A name, or the prefix of a string (E'', B'', X''; N'' is the keyword NCHAR, then a string).
  bool name() {
    size_t begin = i;
    size_t end = run_end(text, i, kNameBytes);
    unsigned char first = lower(at(begin));
    if (end - begin == 1 && first == 'u' && at(end) == '&' && (at(end + 1) == '\'' || at(end + 1) == '"'))
      return false;
    keep(end);
    if (end - begin == 1 && at(end) == '\'' && (first == 'e' || first == 'b' || first == 'x')) return string(begin);
    return true;
  }

  void digits() { mark(run_end(text, i, kDigits)); }

  // A number: digits, a point and digits, an exponent.
  bool number() {
    size_t begin = i;
    if (is_digit(at(i))) digits();
    if (at(i) == '.' && at(i + 1) != '.') {
      keep(i + 1);
      if (is_digit(at(i))) digits();
    }
    if (lower(at(i)) == 'e') {
      size_t sign = i + 1;
      size_t first = at(sign) == '+' || at(sign) == '-' ? sign + 1 : sign;
      if (is_digit(at(first))) {
        keep(first);
        digits();
      }
    }
    if (starts_name(at(i))) return false;
    literal(begin);
    return true;
  }

  bool run() {
    if (text.find('\0') != std::string_view::npos || text.find('\\') != std::string_view::npos) return false;
    if (!simdjson::validate_utf8(text.data(), text.size())) return false;
    while (i < text.size()) {
      unsigned char c = at(i);
      if (kPlain[c]) {
        ++i;
        continue;
      }
      if ((c == '-' && at(i + 1) == '-') || (c == '/' && at(i + 1) == '*')) return false;
      if (starts_name(c)) {
        if (!name()) return false;
      } else if (c == '"') {
        size_t close = closing_quote(text, i);
        if (close == std::string_view::npos) return false;
        keep(close + 1);
      } else if (c == '\'') {
        if (!string(i)) return false;
      } else if (c == '$') {
        size_t end = run_end(text, i + 1, kDigits);
        if (end == i + 1) return false;  // a dollar quote, not a parameter
        keep(end);
      } else if (c == '.' && at(i + 1) == '.') {
        keep(i + 2);
      } else if (is_digit(c) || (c == '.' && is_digit(at(i + 1)))) {
        if (!number()) return false;
      } else {
        keep(i + 1);
      }
    }
    if (shape) shape->append(text.substr(copied));
    return true;
  }
};

}  // namespace

std::optional<std::string> literal_shape(std::string_view text) {
  std::string shape;
  shape.reserve(text.size());
  Scan scan{text, &shape};
  if (!scan.run()) return std::nullopt;
  return shape;
}

std::optional<std::vector<LiteralSpan>> literal_spans(std::string_view text) {
  std::vector<LiteralSpan> literals;
  Scan scan{text, nullptr, &literals};
  if (!scan.run()) return std::nullopt;
  return literals;
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
