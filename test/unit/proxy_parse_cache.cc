// The per-thread cache of parsed SQL: a hit gives what parsing again would, and nothing that
// changes the facts (search path, options, text) is shared between entries.
#include <catch2/catch.hpp>

#include "proxy/judge/parse_cache.h"

using pgw::parse_cached;
using pgw::sql::ParseOptions;

TEST_CASE("a cached parse gives the facts a fresh parse gives") {
  std::string text = "SELECT abalance FROM pgbench_accounts WHERE aid = 7";
  auto first = parse_cached(text, {"public"}, {});
  auto again = parse_cached(text, {"public"}, {});
  auto fresh = pgw::sql::parse(text, {"public"});
  REQUIRE(again.ok());
  REQUIRE(again.statements.size() == 1);
  CHECK(again.statements[0].tables_read == fresh.statements[0].tables_read);
  CHECK(again.statements[0].fingerprint == fresh.statements[0].fingerprint);
  CHECK(again.statements[0].columns == first.statements[0].columns);
}

TEST_CASE("the search path and the options are part of what is cached") {
  std::string text = "DELETE FROM accounts WHERE id = 1";
  CHECK(parse_cached(text, {"public"}, {}).statements[0].tables_written ==
        std::vector<std::string>{"public.accounts"});
  CHECK(parse_cached(text, {"billing"}, {}).statements[0].tables_written ==
        std::vector<std::string>{"billing.accounts"});
  ParseOptions normalize;
  normalize.normalize = true;
  CHECK(parse_cached(text, {"public"}, {}).statements[0].normalized.empty());
  CHECK(parse_cached(text, {"public"}, normalize).statements[0].normalized ==
        "DELETE FROM accounts WHERE id = $1");
}

TEST_CASE("a search_path change inside the text applies to the statements after it") {
  auto parsed = parse_cached("SET search_path = s; DELETE FROM t", {"public"}, {});
  REQUIRE(parsed.statements.size() == 2);
  CHECK(parsed.statements[1].tables_written == std::vector<std::string>{"s.t"});
}

TEST_CASE("a parse error is cached as the error") {
  auto a = parse_cached("SELEC 1", {"public"}, {});
  auto b = parse_cached("SELEC 1", {"public"}, {});
  CHECK_FALSE(a.ok());
  CHECK(b.error == a.error);
}
