// Quoting names and strings in the SQL pgwarden writes itself.
#include <catch2/catch.hpp>

#include "proxy/judge/sql_text.h"

TEST_CASE("identifiers are double-quoted with their quotes doubled") {
  CHECK(pgw::quote_ident("accounts") == "\"accounts\"");
  CHECK(pgw::quote_ident("My \"Table\"") == "\"My \"\"Table\"\"\"");
}

TEST_CASE("literals are escape strings with quotes and backslashes doubled") {
  CHECK(pgw::sql_literal("it's") == "E'it''s'");
  CHECK(pgw::sql_literal("a\\b") == "E'a\\\\b'");
}
