// Literal shapes and the fingerprints cached by them: a statement of a cached shape gets exactly
// the fingerprint libpg_query computes for it, over every data statement of the corpus.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "sqlparse/facts.h"
#include "sqlparse/shape.h"
#include "test/corpus/corpus_sql.h"

using pgw::sql::kLiteralMark;
using pgw::sql::literal_shape;

namespace {

std::string marked(std::string s) {
  for (char& c : s)
    if (c == '#') c = kLiteralMark;
  return s;
}

// A text of the same shape with other values: numbers 98765, strings 'zz'.
std::string other_values(const std::string& shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != kLiteralMark) out += shape[i];
    else if (i > 0 && shape[i - 1] == '\'') out += "zz";
    else out += "98765";
  }
  return out;
}

bool only_dml(const pgw::sql::StatementFacts& f) {
  for (const auto& k : f.commands)
    if (k != "select" && k != "insert" && k != "update" && k != "delete") return false;
  return !f.commands.empty();
}

}  // namespace

TEST_CASE("a literal shape keeps everything but the values of numbers and strings") {
  CHECK(literal_shape("SELECT abalance FROM pgbench_accounts WHERE aid = 4711;") ==
        marked("SELECT abalance FROM pgbench_accounts WHERE aid = #;"));
  CHECK(literal_shape("SELECT 'it''s', 1.5e10 FROM t2") == marked("SELECT '#', #.#e10 FROM t2"));
  CHECK(literal_shape("SELECT \"col 1\", x$2, $3 FROM \"T'9\"") ==
        marked("SELECT \"col 1\", x$2, $3 FROM \"T'9\""));
  CHECK(literal_shape("SELECT E'a' || B'101' || X'1F'") == marked("SELECT E'#' || B'#' || X'#'"));
}

TEST_CASE("text a scan cannot read for sure has no shape") {
  CHECK_FALSE(literal_shape("SELECT 1 -- 2"));
  CHECK_FALSE(literal_shape("SELECT /* 1 */ 2"));
  CHECK_FALSE(literal_shape("SELECT $$1$$"));
  CHECK_FALSE(literal_shape("SELECT E'\\'' || 1"));
  CHECK_FALSE(literal_shape("SELECT 'open"));
  CHECK_FALSE(literal_shape("SELECT \"open"));
  CHECK_FALSE(literal_shape(std::string("SELECT 1\0", 9)));
}

TEST_CASE("texts that differ in more than literals have different shapes") {
  CHECK(literal_shape("SELECT a1 FROM t") != literal_shape("SELECT a2 FROM t"));
  CHECK(literal_shape("SELECT 1 FROM t") != literal_shape("SELECT 1 FROM \"t\""));
  CHECK(literal_shape("SELECT $1") != literal_shape("SELECT $2"));
  CHECK(literal_shape("SELECT 1, 2") != literal_shape("SELECT 1"));
}

TEST_CASE("corpus: a cached data statement fingerprint is the one libpg_query computes") {
  size_t checked = 0;
  for (const std::string& sql : pgw::corpus::sql_texts(std::string(PGW_SOURCE_DIR) + "/test/corpus/statements.txt")) {
    pgw::sql::ParseResult parsed = pgw::sql::parse(sql, {"public"}, {false, false});
    if (!parsed.ok()) continue;
    for (const auto& f : parsed.statements) {
      if (!only_dml(f)) continue;
      std::string text = sql.substr(f.offset, f.length);
      auto shape = literal_shape(text);
      if (!shape) continue;
      std::string variant = other_values(*shape);
      INFO(text << "\nvariant: " << variant);
      std::string expected = pgw::sql::fingerprint(variant);
      if (expected.empty()) continue;  // the new values do not parse (a number where a name was)
      CHECK(pgw::sql::dml_fingerprint(text) == pgw::sql::fingerprint(text));
      CHECK(pgw::sql::dml_fingerprint(variant) == expected);  // from the cache
      ++checked;
    }
  }
  CHECK(checked >= 100);
}

TEST_CASE("parse() fingerprints data statements as libpg_query does") {
  for (const char* sql : {"SELECT abalance FROM pgbench_accounts WHERE aid = 1",
                          "SELECT abalance FROM pgbench_accounts WHERE aid = 2",
                          "UPDATE t SET a = 'x' WHERE id = 3", "CREATE SEQUENCE s START 1",
                          "CREATE SEQUENCE s START 2"}) {
    INFO(sql);
    CHECK(pgw::sql::parse(sql, {"public"}).statements.at(0).fingerprint ==
          pgw::sql::fingerprint(sql));
  }
}
