// The `tests:` runner: each case parsed with sql::parse and judged like the proxy would. A case
// that leaves out a session field (database, job, ...) is not held to rules' fields about it.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include "rules/rules.h"
#include "test/unit/rules_testing.h"

using namespace pgw::rules;

TEST_CASE("the SPEC's example tests pass") {
  int total = 0;
  std::vector<TestFailure> failures = run_tests(*load_file("spec_example.yaml"), &total);
  CHECK(total == 2);
  for (const TestFailure& f : failures) FAIL(f.sql + ": expected " + f.expected + ", got " + f.got);
}

TEST_CASE("failing cases say what was expected and what matched instead") {
  int total = 0;
  std::vector<TestFailure> failures = run_tests(*load_file("tests_mixed.yaml"), &total);
  CHECK(total == 8);
  REQUIRE(failures.size() == 3);
  CHECK(failures[0].index == 3);
  CHECK(failures[0].principal == "other");
  CHECK(failures[0].sql == "SELECT * FROM users");
  CHECK(failures[0].expected == "allow");
  CHECK(failures[0].got == "deny by (default)");
  CHECK(failures[1].index == 4);
  CHECK(failures[1].expected == "deny by rule no-unbounded-delete");
  CHECK(failures[1].got == "deny by (default)");
  CHECK(failures[2].index == 7);
  CHECK(failures[2].expected == "allow by rule app-inserts");
  CHECK(failures[2].got == "deny by (default)");
}

TEST_CASE("LOCK is judged by its mode and the tables it names, not as a write") {
  int total = 0;
  std::vector<TestFailure> failures = run_tests(*load_file("ledger_locks.yaml"), &total);
  CHECK(total == 9);
  for (const TestFailure& f : failures) FAIL(f.sql + ": expected " + f.expected + ", got " + f.got);
}

TEST_CASE("a test case's client_addr must be an address") {
  std::vector<LoadError> errors;
  YAML::Node node =
      YAML::Load("tests:\n  - {client_addr: localhost, sql: SELECT 1, expect: deny}\n");
  CHECK(load_rules_node(node, "rules.yaml", &errors) == nullptr);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string() ==
        "rules.yaml:2:19: tests[0].client_addr: not an IPv4 or IPv6 address");
}
