// What the PostgreSQL store writes into text columns, and which --store names one.
#include <catch2/catch.hpp>

#include <string>

#include "store/pg_util.h"

namespace pgw::store {
namespace {

TEST_CASE("text a text column accepts is stored as it is, without a copy") {
  std::string copy;
  for (std::string value : {"", "SELECT 1", "Grüße, 東京"}) {
    std::string_view stored = pg_storable(value, &copy);
    CHECK(stored == value);
    CHECK(stored.data() == value.data());
  }
  CHECK(copy.empty());
}

TEST_CASE("invalid UTF-8 and NUL bytes become U+FFFD, as the exports show them") {
  std::string copy;
  CHECK(pg_storable(std::string("a\xff" "b"), &copy) == "a\xEF\xBF\xBD" "b");
  CHECK(pg_storable(std::string("a\0b", 3), &copy) == "a\xEF\xBF\xBD" "b");
  CHECK(pg_storable(std::string("\xC3\xA9\xC3", 3), &copy) == "\xC3\xA9\xEF\xBF\xBD");
}

TEST_CASE("a --store argument names a PostgreSQL store by its URI scheme") {
  CHECK(is_postgres_location("postgresql://db/audit"));
  CHECK(is_postgres_location("postgres://db/audit"));
  CHECK_FALSE(is_postgres_location("audit.db"));
}

}  // namespace
}  // namespace pgw::store
