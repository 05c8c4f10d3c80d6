#include <catch2/catch.hpp>

#include <cstdint>

#include "proxy/wire/decimal.h"

using pgw::parse_decimal;

TEST_CASE("decimal numbers are whole strings of digits that fit") {
  int64_t n = 0;
  CHECK(parse_decimal("42", &n));
  CHECK(n == 42);
  CHECK(parse_decimal("9223372036854775807", &n));
  CHECK(n == INT64_MAX);
  CHECK_FALSE(parse_decimal("9223372036854775808", &n));
  CHECK_FALSE(parse_decimal("99999999999999999999999", &n));
  CHECK_FALSE(parse_decimal("", &n));
  CHECK_FALSE(parse_decimal("-5", &n));
  CHECK_FALSE(parse_decimal("+5", &n));
  CHECK_FALSE(parse_decimal(" 5", &n));
  CHECK_FALSE(parse_decimal("12abc", &n));
  int port = 0;
  CHECK_FALSE(parse_decimal("4294967296", &port));
  CHECK(parse_decimal("6432", &port));
  CHECK(port == 6432);
}
