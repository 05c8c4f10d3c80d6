// The parse cache: a hit gives what parsing again would, and nothing that changes the facts
// (search path, options, text) is shared between entries. Data statements are kept by their
// literal shape the first time; other texts by their exact text the second time.
#include <catch2/catch.hpp>

#include "proxy/judge/parse_cache.h"

using pgw::ParseCache;
using pgw::parse_cached;
using pgw::sql::ParseOptions;

TEST_CASE("a cached parse gives the facts a fresh parse gives") {
  ParseCache cache;
  std::string text = "SELECT abalance FROM pgbench_accounts WHERE aid = 7";
  auto first = parse_cached(cache, text, {"public"}, {});
  auto cached = parse_cached(cache, text, {"public"}, {});
  auto fresh = pgw::sql::parse(text, {"public"});
  CHECK(cache.shapes.size() == 1);
  CHECK(cache.texts.empty());
  REQUIRE(cached.ok());
  REQUIRE(cached.statements.size() == 1);
  CHECK(cached == fresh);
  CHECK(first == fresh);
}

TEST_CASE("a data statement is kept by its shape the first time, for every value of its literals") {
  ParseCache cache;
  for (int aid : {1, 4711, 99999, 1234567}) {
    std::string text = "SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(aid) + ";";
    CHECK(parse_cached(cache, text, {"public"}, {}) == pgw::sql::parse(text, {"public"}));
  }
  CHECK(cache.shapes.size() == 1);
  CHECK(cache.seen.empty());
}

TEST_CASE("another text is cached the second time it is parsed") {
  ParseCache cache;
  parse_cached(cache, "SET work_mem = 64", {}, {});
  CHECK(cache.texts.empty());
  parse_cached(cache, "SET work_mem = 64", {}, {});
  CHECK(cache.texts.size() == 1);
  CHECK(cache.shapes.empty());
}

TEST_CASE("the search path and the options are part of what is cached") {
  ParseCache cache;
  std::string text = "DELETE FROM accounts WHERE id = 1";
  for (int twice = 0; twice < 2; ++twice) {
    CHECK(parse_cached(cache, text, {"public"}, {}).statements[0].tables_written ==
          std::vector<std::string>{"public.accounts"});
    CHECK(parse_cached(cache, text, {"billing"}, {}).statements[0].tables_written ==
          std::vector<std::string>{"billing.accounts"});
    CHECK(parse_cached(cache, text, {"billing", ""}, {}).statements[0].tables_written ==
          std::vector<std::string>{"billing.accounts"});
    ParseOptions normalize;
    normalize.normalize = true;
    CHECK(parse_cached(cache, text, {"public"}, {}).statements[0].normalized.empty());
    CHECK(parse_cached(cache, text, {"public"}, normalize).statements[0].normalized ==
          "DELETE FROM accounts WHERE id = $1");
  }
  CHECK(cache.shapes.size() == 4);
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
  CHECK(cache.shapes.empty());
}

TEST_CASE("the cache stays within its bound") {
  ParseCache cache;
  for (int i = 0; i < 3000; ++i) {
    std::string text = "SELECT c" + std::to_string(i) + std::string(3000, ' ') + "FROM t WHERE id = 1";
    parse_cached(cache, text, {"public"}, {true, false});
  }
  CHECK(cache.bytes <= (8u << 20));
  CHECK(cache.shapes.size() < 3000);
}
