// Name globs, qualified names, CIDR blocks and durations of the rule language.
#include <catch2/catch.hpp>

#include "rules/cidr.h"
#include "rules/duration.h"
#include "rules/glob.h"
#include "rules/names.h"

using namespace pgw::rules;

namespace {

Glob glob(std::string_view text, Folding folding = Folding::exact) {
  Glob g;
  std::string error;
  REQUIRE(compile_glob(text, folding, &g, &error));
  return g;
}

QualifiedGlob qualified(std::string_view text, size_t parts) {
  QualifiedGlob g;
  std::string error;
  REQUIRE(compile_qualified(text, parts, &g, &error));
  return g;
}

bool in(std::string_view cidr, std::string_view address) {
  Cidr c;
  std::string error;
  REQUIRE(parse_cidr(cidr, &c, &error));
  std::optional<Address> a = parse_address(address);
  REQUIRE(a);
  return cidr_contains(c, *a);
}

}  // namespace

TEST_CASE("a star matches any run of characters, slashes, dots and at-signs included") {
  CHECK(glob_match(glob("*@refs/heads/*"), "acme/api@refs/heads/main"));
  CHECK(glob_match(glob("*@refs/heads/*"), "@refs/heads/"));
  CHECK_FALSE(glob_match(glob("*@refs/heads/*"), "acme/api@refs/tags/v1"));
  CHECK(glob_match(glob("acme/*"), "acme/x.y/z@w"));
  CHECK(glob_match(glob("*"), ""));
  CHECK(glob_match(glob("a*b*c"), "abc"));
  CHECK(glob_match(glob("a*b*c"), "aXbYbZc"));
  CHECK_FALSE(glob_match(glob("a*b*c"), "aXcYb"));
  CHECK_FALSE(glob_match(glob("ab*ba"), "aba"));
  CHECK(glob_match(glob("a**b"), "ab"));
}

TEST_CASE("only the star is special in a glob") {
  CHECK(glob_match(glob("db?.[x]"), "db?.[x]"));
  CHECK_FALSE(glob_match(glob("db?"), "db1"));
  CHECK_FALSE(glob_match(glob("app"), "app2"));
  CHECK_FALSE(glob_match(glob("app"), "App"));
}

TEST_CASE("identifier globs fold like PostgreSQL: unquoted lower-case, quoted exact") {
  CHECK(glob_match(glob("Public.Users", Folding::identifier), "public.users"));
  CHECK_FALSE(glob_match(glob("Public.Users", Folding::identifier), "public.Users"));
  CHECK(glob_match(glob("public.\"MyTable\"", Folding::identifier), "public.MyTable"));
  CHECK_FALSE(glob_match(glob("public.\"MyTable\"", Folding::identifier), "public.mytable"));
  CHECK(glob_match(glob("\"a*b\"", Folding::identifier), "a*b"));
  CHECK_FALSE(glob_match(glob("\"a*b\"", Folding::identifier), "axb"));
  CHECK(glob_match(glob("\"say \"\"hi\"\"\"", Folding::identifier), "say \"hi\""));
  Glob g;
  std::string error;
  CHECK_FALSE(compile_glob("\"open", Folding::identifier, &g, &error));
  CHECK(error == "unterminated double quote in \"\"open\"");
  CHECK_FALSE(compile_glob("", Folding::exact, &g, &error));
}

TEST_CASE("an unqualified table glob matches that table in any schema") {
  QualifiedGlob users = qualified("users", 2);
  CHECK(qualified_match(users, "public.users"));
  CHECK(qualified_match(users, "app.users"));
  CHECK_FALSE(qualified_match(users, "public.users_archive"));
  QualifiedGlob exact = qualified("public.users", 2);
  CHECK_FALSE(qualified_match(exact, "app.users"));
  QualifiedGlob dotted = qualified("\"a.b\".c", 2);
  CHECK(qualified_match(dotted, "a.b.c"));
  std::string error;
  QualifiedGlob bad;
  CHECK_FALSE(compile_qualified("db.public.users", 2, &bad, &error));
  CHECK(error == "\"db.public.users\" has more than 2 dot-separated parts");
}

TEST_CASE("column globs qualify short names and match columns of unknown tables") {
  QualifiedGlob email = qualified("email", 3);
  CHECK(qualified_match(email, "public.users.email"));
  CHECK_FALSE(qualified_match(email, "public.users.email2"));
  QualifiedGlob users_email = qualified("users.email", 3);
  CHECK(qualified_match(users_email, "app.users.email"));
  CHECK_FALSE(qualified_match(users_email, "app.customers.email"));
  QualifiedGlob full = qualified("public.users.email", 3);
  CHECK(qualified_match(full, "*.*.email"));
  CHECK(qualified_match(full, "*.users.email"));
  CHECK_FALSE(qualified_match(full, "*.customers.email"));
  CHECK_FALSE(qualified_match(full, "*.*.name"));
}

TEST_CASE("every column of a table (SELECT *, a whole row) matches a glob of one of its columns") {
  QualifiedGlob card = qualified("*.customers.card_number", 3);
  CHECK(qualified_match(card, "public.customers.*"));
  CHECK(qualified_match(card, "*.*.*"));
  CHECK_FALSE(qualified_match(card, "public.orders.*"));
  QualifiedGlob exact = qualified("billing.customers.card_number", 3);
  CHECK(qualified_match(exact, "billing.customers.*"));
  CHECK_FALSE(qualified_match(exact, "public.customers.*"));
}

TEST_CASE("function globs drop a schema written in the rule") {
  Glob g;
  std::string error;
  REQUIRE(compile_function_glob("pg_catalog.PG_READ_FILE", &g, &error));
  CHECK(glob_match(g, "pg_read_file"));
  REQUIRE(compile_function_glob("dblink*", &g, &error));
  CHECK(glob_match(g, "dblink_exec"));
}

TEST_CASE("CIDR blocks in IPv4 and IPv6") {
  CHECK(in("10.0.0.0/8", "10.200.3.4"));
  CHECK_FALSE(in("10.0.0.0/8", "11.0.0.1"));
  CHECK(in("192.168.1.0/25", "192.168.1.127"));
  CHECK_FALSE(in("192.168.1.0/25", "192.168.1.128"));
  CHECK(in("127.0.0.1", "127.0.0.1"));
  CHECK_FALSE(in("127.0.0.1", "127.0.0.2"));
  CHECK(in("0.0.0.0/0", "8.8.8.8"));
  CHECK(in("2001:db8::/32", "2001:db8:1::5"));
  CHECK_FALSE(in("2001:db8::/32", "2001:db9::5"));
  CHECK(in("fe80::/10", "fe80::1%eth0"));
  CHECK(in("10.0.0.0/8", "::ffff:10.1.2.3"));
  CHECK_FALSE(in("::/0", "10.1.2.3"));
  Cidr c;
  std::string error;
  CHECK_FALSE(parse_cidr("10.0.0.1/8", &c, &error));
  CHECK(error == "\"10.0.0.1/8\" has bits set to the right of its prefix length");
  CHECK_FALSE(parse_cidr("10.0.0.0/33", &c, &error));
  CHECK_FALSE(parse_cidr("10.0.0.0/", &c, &error));
  CHECK_FALSE(parse_cidr("localhost", &c, &error));
  CHECK_FALSE(parse_address(""));
}

TEST_CASE("durations") {
  using std::chrono::milliseconds;
  CHECK(parse_duration("30s") == milliseconds(30'000));
  CHECK(parse_duration("15m") == milliseconds(900'000));
  CHECK(parse_duration("2h") == milliseconds(7'200'000));
  CHECK(parse_duration("1d") == milliseconds(86'400'000));
  CHECK(parse_duration("1h30m") == milliseconds(5'400'000));
  CHECK(parse_duration("500ms") == milliseconds(500));
  CHECK(parse_duration("1m500ms") == milliseconds(60'500));
  CHECK(parse_duration("15") == milliseconds(15'000));  // a bare number is seconds
  CHECK(parse_duration("0s") == milliseconds(0));
  CHECK_FALSE(parse_duration("15x"));
  CHECK_FALSE(parse_duration("1h30"));  // a bare number only alone
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("m"));
  CHECK_FALSE(parse_duration("99999999999999999999s"));
  CHECK_FALSE(parse_duration("36500d1d"));  // past 100 years
}
