// The parse cache: a hit gives what parsing again would, and nothing that changes the facts
// (search path, options, text) is shared between entries.
#include <catch2/catch.hpp>

#include "proxy/judge/parse_cache.h"

using pgw::ParseCache;
using pgw::parse_cached;
using pgw::sql::ParseOptions;

TEST_CASE("a cached parse gives the facts a fresh parse gives") {
  ParseCache cache;
  std::string text = "SELECT abalance FROM pgbench_accounts WHERE aid = 7";
  auto first = parse_cached(cache, text, {"public"}, {});
  parse_cached(cache, text, {"public"}, {});  // the second time: kept
  auto cached = parse_cached(cache, text, {"public"}, {});
  auto fresh = pgw::sql::parse(text, {"public"});
  CHECK(cache.entries.size() == 1);
  REQUIRE(cached.ok());
  REQUIRE(cached.statements.size() == 1);
  CHECK(cached.statements[0].tables_read == fresh.statements[0].tables_read);
  CHECK(cached.statements[0].fingerprint == fresh.statements[0].fingerprint);
  CHECK(cached.statements[0].columns == first.statements[0].columns);
}

TEST_CASE("a text is cached the second time it is parsed") {
  ParseCache cache;
  parse_cached(cache, "SELECT 1", {}, {});
  CHECK(cache.entries.empty());
  parse_cached(cache, "SELECT 1", {}, {});
  CHECK(cache.entries.size() == 1);
}

TEST_CASE("the search path and the options are part of what is cached") {
  ParseCache cache;
  std::string text = "DELETE FROM accounts WHERE id = 1";
  for (int twice = 0; twice < 2; ++twice) {
    CHECK(parse_cached(cache, text, {"public"}, {}).statements[0].tables_written ==
          std::vector<std::string>{"public.accounts"});
    CHECK(parse_cached(cache, text, {"billing"}, {}).statements[0].tables_written ==
          std::vector<std::string>{"billing.accounts"});
    ParseOptions normalize;
    normalize.normalize = true;
    CHECK(parse_cached(cache, text, {"public"}, {}).statements[0].normalized.empty());
    CHECK(parse_cached(cache, text, {"public"}, normalize).statements[0].normalized ==
          "DELETE FROM accounts WHERE id = $1");
  }
}

TEST_CASE("a search_path change inside the text applies to the statements after it") {
  ParseCache cache;
  for (int twice = 0; twice < 2; ++twice) {
    auto parsed = parse_cached(cache, "SET search_path = s; DELETE FROM t; RESET search_path; DELETE FROM t", {}, {});
    REQUIRE(parsed.statements.size() == 4);
    CHECK(parsed.statements[1].tables_written == std::vector<std::string>{"s.t"});
    CHECK(parsed.statements[3].tables_written == std::vector<std::string>{"public.t"});
  }
}

TEST_CASE("a parse error is cached as the error") {
  ParseCache cache;
  auto a = parse_cached(cache, "SELEC 1", {"public"}, {});
  auto b = parse_cached(cache, "SELEC 1", {"public"}, {});
  auto c = parse_cached(cache, "SELEC 1", {"public"}, {});
  CHECK_FALSE(a.ok());
  CHECK(b.error == a.error);
  CHECK(c.error == a.error);
}
