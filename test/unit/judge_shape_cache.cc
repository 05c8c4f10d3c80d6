// The parse cache by literal shape is a security boundary: facts served from a shape entry must
// be exactly what parsing the text gives. Checked over every statement the tests know and over
// random statements, each with variants of its shape (other numbers, strings holding quotes,
// semicolons, comment and dollar-quote openers, non-ASCII letters), and on the traps one by one.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "proxy/judge/parse_cache.h"
#include "test/unit/shape_testing.h"

using pgw::ParseCache;
using pgw::parse_cached;
using pgw::sql::literal_shape;
using pgw::sql::ParseOptions;
using pgw::sql::ParseResult;
using pgw::shape_testing::describe;
using pgw::shape_testing::moved;

namespace {

const std::vector<std::string> kPath = {"app", "public"};

struct Tally {
  size_t texts = 0;      // texts checked
  size_t invariant = 0;  // of them, kept by shape
  size_t variants = 0;   // variants of a kept shape compared
};

// Parses `text` through a fresh cache, then variants of its shape through the same cache; each
// must get what parse() gives it, and when `text` was kept by shape, what `text` got with the
// byte range moved.
void check_text(const std::string& text, std::mt19937& rng, Tally& tally) {
  std::optional<std::string> shape = literal_shape(text);
  for (ParseOptions options : {ParseOptions{true, false}, ParseOptions{true, true}}) {
    ParseCache cache;
    ParseResult first = parse_cached(cache, text, kPath, options);
    INFO(text << "\nfirst: " << describe(first));
    REQUIRE(first == pgw::sql::parse(text, kPath, options));
    CHECK(cache.shapes.size() == (first.shape_invariant ? 1u : 0u));
    if (first.shape_invariant) {
      CHECK(shape);
      CHECK(first.statements.size() == 1);
    }
    ++tally.texts;
    tally.invariant += first.shape_invariant;
    if (!shape) continue;
    for (int k = 0; k < 4; ++k) {
      std::string other = pgw::shape_testing::variant(*shape, rng);
      if (literal_shape(other) != shape) continue;
      ParseResult direct = pgw::sql::parse(other, kPath, options);
      ParseResult cached = parse_cached(cache, other, kPath, options);
      INFO("variant: " << other << "\ndirect: " << describe(direct) << "\ncached: " << describe(cached));
      CHECK(cached == direct);
      if (!first.shape_invariant) continue;
      CHECK(moved(first, text, other) == direct);
      ++tally.variants;
    }
  }
}

}  // namespace

TEST_CASE("corpus: a statement served by its shape is what parsing it gives") {
  std::mt19937 rng(1);
  Tally tally;
  for (const std::string& text : pgw::shape_testing::known_statements()) check_text(text, rng, tally);
  CHECK(tally.texts >= 800);  // each text twice: with and without the normalized text
  CHECK(tally.invariant >= 250);
  CHECK(tally.variants >= 1000);
}

TEST_CASE("fuzz: random statements served by their shape are what parsing them gives") {
  std::mt19937 rng(20240517);
  pgw::shape_testing::StatementGenerator generate{rng};
  Tally tally;
  for (int i = 0; i < 4000; ++i) check_text(generate.statement(), rng, tally);
  CHECK(tally.invariant >= 2000);
  CHECK(tally.variants >= 10000);
}

TEST_CASE("set_config never comes from a shape: its arguments are facts") {
  ParseCache cache;
  auto work_mem = parse_cached(cache, "SELECT set_config('work_mem', '64MB', false)", kPath, {});
  CHECK_FALSE(work_mem.shape_invariant);
  CHECK_FALSE(work_mem.statements.at(0).sets_search_path);
  auto path = parse_cached(cache, "SELECT set_config('search_path', 'evil', false)", kPath, {});
  REQUIRE(path.statements.at(0).sets_search_path);
  CHECK(*path.statements.at(0).sets_search_path == std::vector<std::string>{"evil"});
  auto other = parse_cached(cache, "SELECT set_config('search_path', 'other', false)", kPath, {});
  CHECK(*other.statements.at(0).sets_search_path == std::vector<std::string>{"other"});
  auto inside = parse_cached(cache, "SELECT a FROM t WHERE set_config('search_path', 'x', true) <> ''", kPath, {});
  CHECK_FALSE(inside.shape_invariant);
  CHECK(cache.shapes.empty());
}

TEST_CASE("only one data statement alone is kept by its shape") {
  ParseCache cache;
  for (const char* sql : {
           "SELECT 1; SELECT 2", "DELETE FROM t WHERE id = 1; DROP TABLE t", "SET work_mem = 64",
           "SET search_path = s1", "SHOW work_mem", "COPY t TO STDOUT",
           "COPY (DELETE FROM t WHERE id = 1 RETURNING *) TO STDOUT", "DO 'BEGIN NULL; END'",
           "EXPLAIN SELECT * FROM t WHERE id = 1", "EXPLAIN ANALYZE DELETE FROM t WHERE id = 1",
           "PREPARE p AS SELECT * FROM t WHERE id = 1", "EXECUTE p(1)", "DEALLOCATE p", "CREATE TABLE t2 AS SELECT 1",
           "SELECT 1 INTO t3", "CREATE SEQUENCE s START 2", "LOCK t", "VACUUM t", "CALL p(1)", "FETCH 5 FROM c",
           "DECLARE c CURSOR FOR SELECT 1", "MERGE INTO t USING u ON t.a = u.b WHEN MATCHED THEN UPDATE SET a = 1",
           "CREATE VIEW v AS SELECT * FROM t WHERE id = 1", "ALTER TABLE t ALTER COLUMN a SET STATISTICS 100",
           "BEGIN", "COMMIT", "SELEC 1",
       }) {
    INFO(sql);
    auto parsed = parse_cached(cache, sql, kPath, {});
    CHECK_FALSE(parsed.shape_invariant);
    CHECK(parsed == pgw::sql::parse(sql, kPath));
  }
  CHECK(cache.shapes.empty());
}

TEST_CASE("a data-modifying CTE is kept by its shape when all it does is data") {
  ParseCache cache;
  auto first = parse_cached(cache, "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d", kPath, {});
  CHECK(first.shape_invariant);
  CHECK(first.statements.at(0).commands == std::vector<std::string>{"select", "delete"});
  std::string other = "WITH d AS (DELETE FROM t WHERE id = 123456 RETURNING *) SELECT * FROM d";
  CHECK(parse_cached(cache, other, kPath, {}) == pgw::sql::parse(other, kPath));
  CHECK(cache.shapes.size() == 1);
}

TEST_CASE("literals the grammar reads are not constants: no shape entry") {
  for (const char* sql : {"SELECT x::float(10) FROM t", "SELECT x::int[3] FROM t", "SELECT x::varchar(10) FROM t",
                          "SELECT CAST(x AS numeric(10, 2)) FROM t", "SELECT interval '1' second(3)",
                          "SELECT -(5)", "SELECT - -5",
                          "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) CYCLE n SET c TO 'Y' "
                          "DEFAULT 'N' USING p SELECT * FROM r"}) {
    INFO(sql);
    ParseCache cache;
    auto parsed = parse_cached(cache, sql, kPath, {true, true});
    CHECK(parsed.ok());
    CHECK_FALSE(parsed.shape_invariant);
    CHECK(cache.shapes.empty());
  }
  ParseCache cache;
  auto ten = parse_cached(cache, "SELECT x::float(10) FROM t", kPath, {});
  auto thirty = parse_cached(cache, "SELECT x::float(30) FROM t", kPath, {});
  CHECK(ten.statements.at(0).fingerprint != thirty.statements.at(0).fingerprint);  // float4, float8
  CHECK_FALSE(parse_cached(cache, "SELECT x::float(99) FROM t", kPath, {}).ok());
  CHECK_FALSE(parse_cached(cache, "SELECT x::varchar(99999999999) FROM t", kPath, {}).ok());
}

TEST_CASE("an output column's number is kept by shape only without the normalized text") {
  // pg_query_normalize keeps ORDER BY 1 and GROUP BY 1 (int4) but replaces a numeric there.
  CHECK(pgw::sql::normalize("SELECT a FROM t ORDER BY 1") == "SELECT a FROM t ORDER BY 1");
  CHECK(pgw::sql::normalize("SELECT a FROM t ORDER BY 99999999999") == "SELECT a FROM t ORDER BY $1");
  for (const char* sql : {"SELECT a FROM t ORDER BY 1", "SELECT a FROM t ORDER BY 99999999999",
                          "SELECT a, count(*) FROM t GROUP BY 1"}) {
    INFO(sql);
    ParseCache cache;
    CHECK_FALSE(parse_cached(cache, sql, kPath, {true, true}).shape_invariant);
    CHECK(parse_cached(cache, sql, kPath, {true, false}).shape_invariant);
  }
  ParseCache cache;
  parse_cached(cache, "SELECT a FROM t ORDER BY 99999999999", kPath, {true, false});
  CHECK(parse_cached(cache, "SELECT a FROM t ORDER BY 1", kPath, {true, false}) ==
        pgw::sql::parse("SELECT a FROM t ORDER BY 1", kPath, {true, false}));
}

TEST_CASE("negative numbers are constants at their sign") {
  ParseCache cache;
  auto first = parse_cached(cache, "SELECT a FROM t WHERE b = -5 AND c = - 2.5", kPath, {true, true});
  CHECK(first.shape_invariant);
  CHECK(first.statements.at(0).normalized == "SELECT a FROM t WHERE b = $1 AND c = $2");
  std::string other = "SELECT a FROM t WHERE b = -77 AND c = - 99999999999.75";
  CHECK(parse_cached(cache, other, kPath, {true, true}) == pgw::sql::parse(other, kPath, {true, true}));
}

TEST_CASE("lexer traps do not share a shape") {
  CHECK_FALSE(literal_shape("SELECT 1--1"));
  CHECK(literal_shape("SELECT 1-1"));
  CHECK_FALSE(literal_shape("SELECT 1/*x*/"));
  CHECK(literal_shape("SELECT 1 - 1") != literal_shape("SELECT 1-1"));
  CHECK(literal_shape("SELECT B'1''1'") != literal_shape("SELECT B'11'"));
  CHECK_FALSE(literal_shape("SELECT 1a"));
  CHECK_FALSE(literal_shape("SELECT U&'d!0061t' UESCAPE '!'"));
  CHECK_FALSE(literal_shape("SELECT E'\\'' || 1"));
  ParseCache cache;
  parse_cached(cache, "SELECT B'11'", kPath, {});
  CHECK(parse_cached(cache, "SELECT B'1''1'", kPath, {}) == pgw::sql::parse("SELECT B'1''1'", kPath));
}

TEST_CASE("a text the parser refuses is never served from a shape entry") {
  ParseCache cache;
  REQUIRE(parse_cached(cache, "SELECT a FROM t WHERE b = 'x'", kPath, {}).shape_invariant);
  for (const std::string& sql :
       {std::string("SELECT a FROM t WHERE b = '\xff'"), std::string("SELECT a FROM t WHERE b = '\0'", 29)}) {
    auto cached = parse_cached(cache, sql, kPath, {});
    CHECK_FALSE(cached.ok());
    CHECK(cached == pgw::sql::parse(sql, kPath));
  }
}

TEST_CASE("a shape entry measures the statement in each text") {
  ParseCache cache;
  parse_cached(cache, "  SELECT a FROM t WHERE b = 1 ;  ", kPath, {});
  auto parsed = parse_cached(cache, "  SELECT a FROM t WHERE b = 123456 ;  ", kPath, {});
  REQUIRE(parsed.statements.size() == 1);
  CHECK(parsed.statements[0].offset == 2);
  CHECK(parsed.statements[0].length == std::string("SELECT a FROM t WHERE b = 123456").size());
  CHECK(cache.shapes.size() == 1);
}
