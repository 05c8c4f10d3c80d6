// Literal shapes against PostgreSQL's own lexer, and the fingerprints cached by them: texts of
// one shape lex into the same tokens but for the values of their constants, the literals the
// scan finds are exactly the lexer's constant tokens, and a statement of a cached shape gets
// the fingerprint libpg_query computes for it.
#include <pg_query.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "sqlparse/facts.h"
#include "sqlparse/shape.h"
#include "test/unit/shape_testing.h"

using pgw::sql::kLiteralMark;
using pgw::sql::literal_shape;
using pgw::sql::literal_spans;

namespace {

std::string marked(std::string s) {
  for (char& c : s)
    if (c == '#') c = kLiteralMark;
  return s;
}

// One token of PostgreSQL's lexer (pg_query_scan): its byte range and its kind (gram.h's
// token numbers, as in libpg_query's pg_query.proto).
struct Token {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t kind = 0;
};

constexpr uint64_t kFconst = 260, kSconst = 261, kBconst = 263, kXconst = 264, kIconst = 266;

bool is_constant(uint64_t kind) {
  return kind == kFconst || kind == kSconst || kind == kBconst || kind == kXconst || kind == kIconst;
}

uint64_t varint(const uint8_t*& p, const uint8_t* end) {
  uint64_t value = 0;
  for (int shift = 0; p < end; shift += 7) {
    uint8_t byte = *p++;
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) break;
  }
  return value;
}

// The tokens of `text` as PostgreSQL 15's lexer reads them, decoded from pg_query_scan's
// ScanResult message (tokens: field 2; a token's start 1, end 2, kind 4, all varints); nullopt
// when the lexer fails.
std::optional<std::vector<Token>> lex(const std::string& text) {
  PgQueryScanResult scanned = pg_query_scan(text.c_str());
  std::optional<std::vector<Token>> out;
  if (!scanned.error) {
    out.emplace();
    const auto* p = reinterpret_cast<const uint8_t*>(scanned.pbuf.data);
    const uint8_t* end = p + scanned.pbuf.len;
    while (p < end) {
      uint64_t key = varint(p, end);
      if ((key & 7) != 2) {  // the version
        varint(p, end);
        continue;
      }
      uint64_t length = varint(p, end);
      if (key >> 3 != 2) {
        p += length;
        continue;
      }
      Token& t = out->emplace_back();
      for (const uint8_t* field_end = p + length; p < field_end;) {
        uint64_t field = varint(p, field_end) >> 3;
        uint64_t value = varint(p, field_end);
        if (field == 1) t.start = value;
        if (field == 2) t.end = value;
        if (field == 4) t.kind = value;
      }
    }
  }
  pg_query_free_scan_result(scanned);
  return out;
}

// Checks that the literals of `text` are the lexer's constant tokens: each constant starts
// where a literal does and ends where it (or the last of the literals it joins, 'a'\n'b') ends,
// and no literal lies outside a constant. Returns the tokens, nullopt when `text` has no shape
// or does not lex.
std::optional<std::vector<Token>> check_literals_are_constants(const std::string& text) {
  auto spans = literal_spans(text);
  auto tokens = spans ? lex(text) : std::nullopt;
  if (!tokens) return std::nullopt;
  INFO(text);
  size_t s = 0;
  for (const Token& t : *tokens) {
    if (!is_constant(t.kind)) {
      CHECK((s == spans->size() || (*spans)[s].begin >= t.end));
      continue;
    }
    REQUIRE(s < spans->size());
    CHECK((*spans)[s].begin == t.start);
    while (s + 1 < spans->size() && (*spans)[s + 1].end <= t.end) ++s;
    CHECK((*spans)[s].end == t.end);
    ++s;
  }
  CHECK(s == spans->size());
  return tokens;
}

// Checks that `other`, of the same shape as `text`, lexes into the same tokens but for the
// values of constants (and int4 overflowing into a numeric): same kinds, same text elsewhere.
void check_same_tokens(const std::string& text, const std::vector<Token>& tokens, const std::string& other) {
  auto others = lex(other);
  INFO(text << "\nvariant: " << other);
  REQUIRE(others);
  REQUIRE(others->size() == tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& a = tokens[i];
    const Token& b = (*others)[i];
    bool numbers = (a.kind == kIconst || a.kind == kFconst) && (b.kind == kIconst || b.kind == kFconst);
    CHECK((a.kind == b.kind || numbers));
    if (!is_constant(a.kind)) CHECK(text.substr(a.start, a.end - a.start) == other.substr(b.start, b.end - b.start));
  }
}

}  // namespace

TEST_CASE("a literal shape keeps everything but the values of numbers and strings") {
  CHECK(literal_shape("SELECT abalance FROM pgbench_accounts WHERE aid = 4711;") ==
        marked("SELECT abalance FROM pgbench_accounts WHERE aid = #;"));
  CHECK(literal_shape("SELECT 'it''s', 1.5e10 FROM t2") == marked("SELECT '#', #.#e# FROM t2"));
  CHECK(literal_shape("SELECT \"col 1\", x$2, $3 FROM \"T'9\"") ==
        marked("SELECT \"col 1\", x$2, $3 FROM \"T'9\""));
  CHECK(literal_shape("SELECT E'a' || B'101' || X'1F' || N'b'") == marked("SELECT E'#' || B'#' || X'#' || N'#'"));
  CHECK(literal_shape("SELECT 1e5, 1.5, .5, 1., 1e-5, 2.5E+3, 007") ==
        marked("SELECT #e#, #.#, .#, #., #e-#, #.#E+#, #"));
  CHECK(literal_shape("SELECT \"a\"\"b1\", t1.c2 FROM s3.t4") == marked("SELECT \"a\"\"b1\", t1.c2 FROM s3.t4"));
  CHECK(literal_shape("SELECT 1-1, 2 - -3, x/2") == marked("SELECT #-#, # - -#, x/#"));
  CHECK(literal_shape("SELECT 'a'\n'b'") == marked("SELECT '#'\n'#'"));  // one string to PostgreSQL
}

TEST_CASE("a shape follows how PostgreSQL ends tokens") {
  // 1..2 is 1, `..`, 2 (and a syntax error), never 1. followed by .2
  CHECK(literal_shape("SELECT 1..2") == marked("SELECT #..#"));
  // A bit string ends at its first quote: B'1''1' is B'1' followed by '1'.
  CHECK(literal_shape("SELECT B'1''1'") == marked("SELECT B'#''#'"));
  CHECK(literal_shape("SELECT B'1''1'") != literal_shape("SELECT B'11'"));
  CHECK(literal_shape("SELECT x'1''F'") == marked("SELECT x'#''#'"));
  // Only a one-letter name right before the quote is a prefix.
  CHECK(literal_shape("SELECT ab'1''1'") == marked("SELECT ab'#'"));
  // Digits in names and parameters are kept.
  CHECK(literal_shape("SELECT $12, a1b2, _3") == marked("SELECT $12, a1b2, _3"));
}

TEST_CASE("text a scan cannot read for sure has no shape") {
  for (const char* sql : {
           "SELECT 1 -- 2", "SELECT /* 1 */ 2", "SELECT /* /* nested */ */ 2", "SELECT 1--1", "SELECT 1/*x*/",
           "SELECT $$1$$", "SELECT $tag$1$tag$", "SELECT $", "SELECT E'\\'' || 1", "SELECT 'a\\' || 1",
           "SELECT 'open", "SELECT \"open", "SELECT B'open", "SELECT U&'d!0061t' UESCAPE '!'", "SELECT u&'x'",
           "SELECT U&\"d!0061t\" UESCAPE '!' FROM t", "SELECT 1a", "SELECT 1e", "SELECT 1.e", "SELECT 1e+",
           "SELECT 1ea", "SELECT 0x1F", "SELECT 1_000", "SELECT 1.5x", "SELECT 1$",
       }) {
    INFO(sql);
    CHECK_FALSE(literal_shape(sql));
  }
  CHECK_FALSE(literal_shape(std::string("SELECT 1\0", 9)));
  CHECK_FALSE(literal_shape(std::string("SELECT 'a\0b'", 13)));
  CHECK_FALSE(literal_shape("SELECT '\xff\xfe'"));
  CHECK_FALSE(literal_shape("SELECT '\xc3'"));
}

TEST_CASE("texts that differ in more than literals have different shapes") {
  CHECK(literal_shape("SELECT a1 FROM t") != literal_shape("SELECT a2 FROM t"));
  CHECK(literal_shape("SELECT 1 FROM t") != literal_shape("SELECT 1 FROM \"t\""));
  CHECK(literal_shape("SELECT $1") != literal_shape("SELECT $2"));
  CHECK(literal_shape("SELECT 1, 2") != literal_shape("SELECT 1"));
  CHECK(literal_shape("SELECT 15") != literal_shape("SELECT 1.5"));
  CHECK(literal_shape("SELECT 1-1") != literal_shape("SELECT 1 - 1"));
  CHECK(literal_shape("SELECT 'a' 'b'") != literal_shape("SELECT 'a'\n'b'"));
  CHECK(literal_shape("SELECT E'x'") != literal_shape("SELECT 'x'"));
}

TEST_CASE("literal spans are where PostgreSQL's lexer starts and ends its constants") {
  auto spans = literal_spans("SELECT E'a', -5, 1.5e3, N'b', B'1' FROM t WHERE x = 'it''s'");
  REQUIRE(spans);
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto s : *spans) ranges.emplace_back(s.begin, s.end);
  CHECK(ranges == std::vector<std::pair<size_t, size_t>>{{7, 11}, {14, 15}, {17, 22}, {25, 28}, {30, 34}, {52, 59}});
}

TEST_CASE("corpus and fuzz: texts of one shape lex alike, their literals are the lexer's constants") {
  std::mt19937 rng(20240516);
  std::vector<std::string> texts = pgw::shape_testing::known_statements();
  pgw::shape_testing::StatementGenerator generate{rng};
  for (int i = 0; i < 3000; ++i) texts.push_back(generate.statement());
  size_t shaped = 0, compared = 0;
  for (const std::string& text : texts) {
    auto tokens = check_literals_are_constants(text);
    if (!tokens) continue;
    ++shaped;
    std::string shape = *literal_shape(text);
    for (int k = 0; k < 4; ++k) {
      std::string other = pgw::shape_testing::variant(shape, rng);
      if (literal_shape(other) != shape) continue;
      check_same_tokens(text, *tokens, other);
      ++compared;
    }
  }
  CHECK(shaped >= 2000);
  CHECK(compared >= 8000);
}

TEST_CASE("fuzz: token soup lexes alike for one shape, its literals are the lexer's constants") {
  // Not SQL, only tokens: every kind of name, quote, prefix, number, operator, blank and
  // punctuation run together, so that the scan meets what the lexer does at their edges.
  static const std::vector<std::string> fragments = {
      "SELECT", "a", "é", "_x1", "x$", "E", "e", "B", "b", "X", "x", "N", "U", "u", "&", "'", "''", "'ab'",
      "'it''s'", "\"q\"", "\"a\"\"b\"", "\"", "1", "12", "0", ".", "..", "e", "E", "+", "-", "*", "/", "<",
      ">", "=", "~", "!", "@", "#", "%", "^", "|", "`", "?", ":", "::", ";", ",", "(", ")", "[", "]", "$",
      "$1", "$12", " ", "  ", "\n", "\t", "\r", "\f", "\v", "日本"};
  std::mt19937 rng(99);
  size_t shaped = 0, compared = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    for (size_t n = 1 + pgw::shape_testing::below(rng, 24); n > 0; --n)
      text += fragments[pgw::shape_testing::below(rng, fragments.size())];
    auto tokens = check_literals_are_constants(text);
    if (!tokens) continue;
    ++shaped;
    std::string shape = *literal_shape(text);
    for (int k = 0; k < 3; ++k) {
      std::string other = pgw::shape_testing::variant(shape, rng);
      if (literal_shape(other) != shape) continue;
      check_same_tokens(text, *tokens, other);
      ++compared;
    }
  }
  CHECK(shaped >= 2000);
  CHECK(compared >= 5000);
}

TEST_CASE("corpus: a cached data statement fingerprint is the one libpg_query computes") {
  std::mt19937 rng(7);
  size_t checked = 0;
  for (const std::string& sql : pgw::shape_testing::known_statements()) {
    auto shape = literal_shape(sql);
    if (!shape) continue;
    for (int k = 0; k < 3; ++k) {
      std::string variant = pgw::shape_testing::variant(*shape, rng);
      if (literal_shape(variant) != shape) continue;
      INFO(sql << "\nvariant: " << variant);
      pgw::sql::ParseResult first = pgw::sql::parse(sql, {"public"});
      pgw::sql::ParseResult second = pgw::sql::parse(variant, {"public"});  // after `first`: from the cache
      if (!second.ok()) continue;  // the new values do not parse (a number where a name was)
      REQUIRE(second.statements.size() == first.statements.size());
      for (const auto& f : second.statements)
        CHECK(f.fingerprint == pgw::sql::fingerprint(variant.substr(f.offset, f.length)));
      ++checked;
    }
  }
  CHECK(checked >= 500);
}

TEST_CASE("parse() fingerprints data statements as libpg_query does") {
  for (const char* sql : {"SELECT abalance FROM pgbench_accounts WHERE aid = 1",
                          "SELECT abalance FROM pgbench_accounts WHERE aid = 2",
                          "UPDATE t SET a = 'x' WHERE id = 3", "CREATE SEQUENCE s START 1",
                          "CREATE SEQUENCE s START 2", "SELECT x::float(10)", "SELECT x::float(30)",
                          "SELECT x::int[3]", "SELECT x::int[4]"}) {
    INFO(sql);
    CHECK(pgw::sql::parse(sql, {"public"}).statements.at(0).fingerprint == pgw::sql::fingerprint(sql));
  }
}
