// `pgwarden learn`: recorded statements in, a rules file out. The proposed file is loaded back
// with the rules loader, its `tests:` are run, and statements are judged by it: what was recorded
// is allowed, what was not (other tables, writes where only reads were seen, an unbounded DELETE,
// file functions, DDL) is denied, and statements a rule denied or held are never learned.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include "rules/learn.h"
#include "test/unit/rules_testing.h"

using namespace pgw::rules;

namespace {

ObservedStatement seen(const std::string& principal, const std::string& sql,
                       const std::string& decision = "allow", const std::string& rule = "",
                       const std::string& sqlstate = "") {
  return recorded_statement(principal, sql, decision, rule, sqlstate);
}

std::string propose(const std::vector<ObservedStatement>& statements) {
  Learning learning;
  for (const ObservedStatement& o : statements) learn(&learning, o);
  return proposed_rules(learning, {"audit.db", "2026-11-01", "", "", "from A to B"});
}

// The decision of the proposed rules on one statement ("allow by rule x", "deny by (default)").
std::string judge(const RuleSet& set, const std::string& principal, const std::string& sql,
                  const std::string& database = "app") {
  pgw::sql::ParseResult parsed = pgw::sql::parse(sql, {"public"});
  REQUIRE(parsed.ok());
  REQUIRE(parsed.statements.size() == 1);
  Decision d = evaluate(set, {principal, "", database, "10.0.0.1"}, parsed.statements[0], sql);
  return d.audit_name() + " by " + (d.rule.empty() ? "(default)" : d.rule);
}

void require_tests_pass(const RuleSet& set, int at_least) {
  int total = 0;
  for (const TestFailure& f : run_tests(set, &total)) {
    FAIL("tests[" << f.index << "] " << f.sql << ": expected " << f.expected << ", got " << f.got);
  }
  CHECK(total >= at_least);
}

const char* kMain = "acme/shop@refs/heads/main";
const char* kDev = "acme/shop@refs/heads/dev";

std::vector<ObservedStatement> shop_traffic() {
  return {
      seen(kMain, "BEGIN"),
      seen(kMain, "SELECT id, total FROM orders WHERE id = 7"),
      seen(kMain, "SELECT count(*) FROM customers"),
      seen(kMain, "INSERT INTO orders (id, total) VALUES (8, 10)"),
      seen(kDev, "UPDATE orders SET total = 11 WHERE id = 8"),
      seen(kDev, "DELETE FROM orders WHERE id = 8"),
      seen(kMain, "COMMIT"),
      seen(kMain, "SELECT pg_advisory_lock(42)"),
  };
}

}  // namespace

TEST_CASE("learn groups a repository's refs as repository@* and keeps other principals") {
  std::vector<ObservedStatement> traffic = shop_traffic();
  traffic.push_back(seen("acme/api@refs/heads/main", "SELECT * FROM customers"));
  traffic.push_back(seen("dba:alice", "SELECT * FROM customers"));
  std::string yaml = propose(traffic);
  CHECK(yaml.find("principals: [\"acme/shop@*\"]") != std::string::npos);
  CHECK(yaml.find("from acme/shop@refs/heads/dev, acme/shop@refs/heads/main") != std::string::npos);
  CHECK(yaml.find("principals: [\"acme/api@refs/heads/main\"]") != std::string::npos);
  CHECK(yaml.find("principals: [\"dba:alice\"]") != std::string::npos);
  RuleSetPtr set = load(yaml);
  CHECK(judge(*set, "acme/shop@refs/heads/feature", "SELECT * FROM orders") ==
        "allow by acme-shop-reads");
  CHECK(judge(*set, "acme/api@refs/heads/dev", "SELECT * FROM customers") == "deny by (default)");
  CHECK(judge(*set, "dba:alice", "SELECT * FROM customers") == "allow by dba-alice-reads");
  require_tests_pass(*set, 5);
}

TEST_CASE("learned rules are one per kind of statement, with the tables and kinds seen") {
  std::string yaml = propose(shop_traffic());
  INFO(yaml);
  CHECK(yaml.find("default: deny") != std::string::npos);
  CHECK(yaml.find("mode: enforce") != std::string::npos);
  CHECK(yaml.find("# Rules proposed by `pgwarden learn` from the audit store audit.db") !=
        std::string::npos);
  CHECK(yaml.find("# 8 records read: 8 learned as allowed, 0 not learned.") != std::string::npos);
  CHECK(yaml.find("  - name: acme-shop-writes\n    match:\n      principals: [\"acme/shop@*\"]\n"
                  "      databases: [app]\n      commands: [delete, insert, update]\n"
                  "      writes: [public.orders]\n    action: allow\n") != std::string::npos);
  CHECK(yaml.find("      commands: [select]\n      reads: [public.customers, public.orders]\n") !=
        std::string::npos);
  CHECK(yaml.find("      commands: [begin, commit, rollback, select]\n    action: allow\n") !=
        std::string::npos);
  CHECK(yaml.find("# functions called (not confined by this rule): count") != std::string::npos);
  CHECK(yaml.find("name: acme-shop-ddl") == std::string::npos);  // no DDL was recorded
  CHECK(yaml.find("  # - name: no-ddl\n") != std::string::npos);
  CHECK(yaml.find("  # - name: no-role-changes\n") != std::string::npos);
}

TEST_CASE("learned rules are as narrow as the rule language allows") {
  RuleSetPtr set = load(propose(shop_traffic()));
  // What was recorded, with other literals.
  CHECK(judge(*set, kMain, "SELECT id, total FROM orders WHERE id = 99") ==
        "allow by acme-shop-reads");
  CHECK(judge(*set, kMain, "DELETE FROM orders WHERE id = 99") == "allow by acme-shop-writes");
  CHECK(judge(*set, kMain, "SELECT 1") == "allow by acme-shop-session");
  CHECK(judge(*set, kMain, "ROLLBACK") == "allow by acme-shop-session");  // BEGIN was seen
  // Another database, another principal.
  CHECK(judge(*set, kMain, "SELECT * FROM orders", "billing") ==
        "deny by acme-shop-no-other-tables");
  CHECK(judge(*set, "other", "SELECT * FROM orders") == "deny by (default)");
  // A table never touched, read or written, alone or beside a learned one.
  CHECK(judge(*set, kMain, "SELECT * FROM secrets") == "deny by acme-shop-no-other-tables");
  CHECK(judge(*set, kMain, "INSERT INTO secrets SELECT * FROM orders") ==
        "deny by acme-shop-no-other-writes");
  CHECK(judge(*set, kMain,
              "WITH d AS (DELETE FROM secrets WHERE id > 0 RETURNING *) SELECT * FROM orders, d") ==
        "deny by acme-shop-no-other-writes");
  // A table only read is not written.
  CHECK(judge(*set, kMain, "INSERT INTO customers VALUES (1)") ==
        "deny by acme-shop-no-other-writes");
  // What never happened.
  CHECK(judge(*set, kMain, "DELETE FROM orders") == "deny by learned-no-unbounded-write");
  CHECK(judge(*set, kMain, "SELECT pg_read_file('/etc/passwd')") ==
        "deny by learned-no-file-or-network-functions");
  CHECK(judge(*set, kMain, "DROP TABLE orders") == "deny by acme-shop-no-other-writes");
  CHECK(judge(*set, kMain, "CREATE SCHEMA s") == "deny by (default)");
  CHECK(judge(*set, kMain, "ALTER ROLE migrator SUPERUSER") == "deny by (default)");
}

TEST_CASE("learn's tests are real statements and pass, also for the deny rules") {
  std::string yaml = propose(shop_traffic());
  CHECK(yaml.find("  - { principal: \"acme/shop@refs/heads/main\", database: app, sql: \"SELECT "
                  "id, total FROM orders WHERE id = 7\", expect: allow, rule: acme-shop-reads }") !=
        std::string::npos);
  CHECK(yaml.find("sql: \"DELETE FROM public.orders\", expect: deny, rule: "
                  "learned-no-unbounded-write }") != std::string::npos);
  require_tests_pass(*load(yaml), 8);
}

TEST_CASE("statements a rule denied or held are not learned; the default's would_deny is") {
  std::vector<ObservedStatement> traffic = {
      seen(kMain, "SELECT * FROM orders", "would_deny", ""),
      seen(kMain, "DROP TABLE customers", "would_deny", "no-drops"),
      seen(kMain, "TRUNCATE invoices", "would_hold", "destructive-ddl-needs-a-dba"),
      seen(kMain, "DELETE FROM payments", "deny", "no-unbounded-delete"),
      seen(kMain, "DELETE FROM refunds", "deny", ""),
      seen(kMain, "DROP TABLE refunds", "approved", "destructive-ddl-needs-a-dba"),
      seen(kMain, "DROP TABLE carts", "rejected", "destructive-ddl-needs-a-dba"),
      seen(kMain, "DROP TABLE wishes", "expired", "destructive-ddl-needs-a-dba"),
      seen(kMain, "DROP TABLE notes", "withdrawn", "destructive-ddl-needs-a-dba"),
      seen(kMain, "INSERT INTO audit_log VALUES (1)", "log", "log-writes"),
  };
  std::string yaml = propose(traffic);
  INFO(yaml);
  CHECK(yaml.find("# 10 records read: 2 learned as allowed, 8 not learned.") != std::string::npos);
  CHECK(yaml.find("#   not learned, would_deny by rule no-drops: 1") != std::string::npos);
  CHECK(yaml.find("#   not learned, would_hold by rule destructive-ddl-needs-a-dba: 1") !=
        std::string::npos);
  CHECK(yaml.find("#   not learned, deny (default): 1") != std::string::npos);
  CHECK(yaml.find("#   not learned, approved after a hold by rule destructive-ddl-needs-a-dba "
                  "(one approval is not a standing permission): 1") != std::string::npos);
  RuleSetPtr set = load(yaml);
  CHECK(judge(*set, kMain, "SELECT * FROM orders") == "allow by acme-shop-refs-heads-main-reads");
  CHECK(judge(*set, kMain, "INSERT INTO audit_log VALUES (2)") ==
        "allow by acme-shop-refs-heads-main-writes");
  for (const char* sql : {"DROP TABLE customers", "TRUNCATE invoices", "DELETE FROM payments",
                          "DROP TABLE refunds", "DROP TABLE carts"}) {
    CHECK(judge(*set, kMain, sql).starts_with("deny by "));
  }
  require_tests_pass(*load(yaml), 2);
}

TEST_CASE("statements that failed on the server are learned, unless they never ran") {
  std::string yaml = propose({
      seen(kMain, "SELECT * FROM schema_version", "allow", "", "42P01"),
      seen(kMain, "SELECT * FROM orders", "allow", "", "25P02"),
  });
  CHECK(yaml.find("#   not learned, never ran: its transaction had already failed (25P02): 1") !=
        std::string::npos);
  RuleSetPtr set = load(yaml);
  CHECK(judge(*set, kMain, "SELECT * FROM schema_version").starts_with("allow by "));
  CHECK(judge(*set, kMain, "SELECT * FROM orders").starts_with("deny by "));
}

TEST_CASE("names, globs and SQL text round-trip through the rules loader") {
  std::vector<ObservedStatement> traffic = {
      seen("ci:\"quoted\" #1", "SELECT 'it''s', \"Col\"\nFROM \"Order Items\" -- a comment\n"),
      seen("ci:\"quoted\" #1", "INSERT INTO \"Sales.2024\".\"Orders\" VALUES ('a\tb', E'\\\\')"),
      seen("ci:\"quoted\" #1", "UPDATE \"Sales.2024\".\"Orders\" SET x = 1"),
  };
  std::string yaml = propose(traffic);
  INFO(yaml);
  CHECK(yaml.find("reads: [\"public.\\\"Order Items\\\"\"]") != std::string::npos);
  RuleSetPtr set = load(yaml);
  CHECK(judge(*set, "ci:\"quoted\" #1", "SELECT 1 FROM \"Order Items\"") ==
        "allow by ci-quoted-1-reads");
  CHECK(judge(*set, "ci:\"quoted\" #1", "SELECT 1 FROM order_items") == "deny by (default)");
  CHECK(judge(*set, "ci:\"quoted\" #1", "UPDATE \"Sales.2024\".\"Orders\" SET x = 2") ==
        "allow by ci-quoted-1-writes");
  require_tests_pass(*set, 1);
}

TEST_CASE("an audit with nothing to learn proposes default: deny and no rule") {
  std::string yaml = propose({seen(kMain, "DROP TABLE t", "deny", "no-drops")});
  RuleSetPtr set = load(yaml);
  CHECK(yaml.find("rules: []") != std::string::npos);
  CHECK(judge(*set, kMain, "SELECT 1") == "deny by (default)");
}
