// `pgwarden coverage`: recorded statements counted by the rule the audit names and by the rule
// the current rules pick when they judge the same statement again.
#include <catch2/catch.hpp>

#include "rules/coverage.h"
#include "test/unit/rules_testing.h"

using namespace pgw::rules;

namespace {

// Recorded by a rule, or (no rule) would_deny by the default of a monitoring rules file.
ObservedStatement recorded(const std::string& sql, const std::string& rule,
                           const std::string& principal = "acme/shop@refs/heads/main") {
  return recorded_statement(principal, sql, rule.empty() ? "would_deny" : "allow", rule);
}

const char* kRules = R"(
mode: monitor
default: deny
rules:
  - name: no-unbounded-delete
    match: { commands: [delete, update], where: absent }
    action: deny
  - name: shop-reads
    match: { principals: ["acme/shop@*"], reads: [public.orders] }
    action: allow
  - name: shop-writes
    match: { principals: ["acme/shop@*"], writes: [public.orders] }
    action: allow
)";

}  // namespace

TEST_CASE("coverage counts each rule as recorded and as judged again") {
  RuleSetPtr set = load(kRules);
  Coverage c = start_coverage(*set);
  for (int i = 0; i < 3; ++i) {
    cover(&c, *set, recorded("SELECT * FROM orders WHERE id = " + std::to_string(i), "shop-reads"));
  }
  cover(&c, *set, recorded("DELETE FROM orders", ""));  // recorded before the rule existed
  cover(&c, *set, recorded("SELECT * FROM secrets WHERE a = 1", ""));
  cover(&c, *set, recorded("SELECT * FROM secrets WHERE a = 2", ""));
  cover(&c, *set, recorded("SELECT * FROM invoices", "", "dba:alice"));
  cover(&c, *set, recorded("SELECT 1", "old-health-check"));
  cover(&c, *set, recorded("SELEC oops", ""));

  CHECK(c.statements == 9);
  CHECK(c.unparsed == 1);
  REQUIRE(c.rules.size() == 4);
  CHECK(c.rules[0].rule == "no-unbounded-delete");
  CHECK(c.rules[0].action == "deny (monitor)");
  CHECK(c.rules[0].recorded == 0);
  CHECK(c.rules[0].judged == 1);
  CHECK(c.rules[1].rule == "shop-reads");
  CHECK(c.rules[1].recorded == 3);
  CHECK(c.rules[1].judged == 3);
  CHECK(c.rules[2].rule == "shop-writes");
  CHECK(c.rules[2].recorded == 0);
  CHECK(c.rules[2].judged == 0);  // never matched
  CHECK(c.rules[3].rule == "(default)");
  CHECK(c.rules[3].recorded == 4);
  CHECK(c.rules[3].judged == 4);
  CHECK(c.recorded_other_rules == std::map<std::string, int64_t>{{"old-health-check", 1}});

  std::vector<DefaultFingerprint> top = most_frequent_defaults(c, 2);
  REQUIRE(top.size() == 2);
  CHECK(top[0].count == 2);
  CHECK(top[0].example == "SELECT * FROM secrets WHERE a = 1");
  CHECK(top[0].principal == "acme/shop@refs/heads/main");
  CHECK(top[0].fingerprint == pgw::sql::fingerprint("SELECT * FROM secrets WHERE a = 2"));
  CHECK(top[1].count == 1);
  CHECK(most_frequent_defaults(c, 10).size() == 3);
}

TEST_CASE("coverage judges with the recorded tables, resolved through the session's search_path") {
  RuleSetPtr set = load(kRules);
  Coverage c = start_coverage(*set);
  ObservedStatement o = recorded("SELECT * FROM orders", "");
  o.tables_read = {"billing.orders"};  // the session had SET search_path TO billing
  cover(&c, *set, o);
  CHECK(c.rules[1].judged == 0);
  CHECK(c.rules[3].judged == 1);
}
