// run_tests(): the `tests:` cases of a rules file, each judged as the proxy would judge it.
#include "rules/match.h"
#include "rules/ruleset.h"

namespace pgw::rules {

namespace {

// Session fields the case left out: rules' fields about them match whatever the value.
unsigned open_fields(const TestCase& test) {
  unsigned open = 0;
  if (!test.given.principal) open |= kOpenPrincipal;
  if (!test.given.job) open |= kOpenJob;
  if (!test.given.database) open |= kOpenDatabase;
  if (!test.given.client_addr) open |= kOpenClientAddr;
  return open;
}

// A case's outcome: the first decision that is not a plain allow, or allow.
Decision judge(const RuleSet& set, const TestCase& test) {
  sql::ParseResult parsed = sql::parse(test.sql, {"public"});
  if (!parsed.ok()) return evaluate_parse_error(set, test.context, parsed.error);
  Decision first_allow;
  bool any = false;
  for (const sql::StatementFacts& facts : parsed.statements) {
    std::string_view text = std::string_view(test.sql).substr(facts.offset, facts.length);
    Subject subject(test.context, &facts, text);
    subject.open_fields = open_fields(test);
    Decision d = decide(set, subject);
    if (d.action != Action::allow) return d;
    if (!any) first_allow = std::move(d);
    any = true;
  }
  if (!any) first_allow.action = Action::allow;
  return first_allow;
}

std::string describe(Action action, const std::string& rule) {
  return std::string(action_name(action)) + " by " +
         (rule.empty() ? std::string("(default)") : "rule " + rule);
}

}  // namespace

std::vector<TestFailure> run_tests(const RuleSet& set, int* total) {
  std::vector<TestFailure> failures;
  for (size_t i = 0; i < set.tests.size(); ++i) {
    const TestCase& test = set.tests[i];
    Decision d = judge(set, test);
    bool action_ok = d.action == test.expect;
    bool rule_ok = !test.rule || d.rule == *test.rule;
    if (action_ok && rule_ok) continue;
    TestFailure f;
    f.index = static_cast<int>(i);
    f.principal = test.context.principal;
    f.sql = test.sql;
    f.expected = test.rule ? describe(test.expect, *test.rule) : action_name(test.expect);
    f.got = describe(d.action, d.rule);
    failures.push_back(std::move(f));
  }
  if (total != nullptr) *total = static_cast<int>(set.tests.size());
  return failures;
}

}  // namespace pgw::rules
