// Loading and strict validation of rules files: every mistake reported with file:line:col and
// the field at fault, all of them at once.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include "rules/rules.h"

using namespace pgw::rules;

namespace {

std::string fixture(const std::string& name) {
  return std::string(PGW_SOURCE_DIR) + "/test/rules/" + name;
}

// The printed errors of loading `yaml` as the text of rules.yaml.
std::vector<std::string> errors_of(const std::string& yaml) {
  std::vector<LoadError> errors;
  RuleSetPtr set = load_rules_node(YAML::Load(yaml), "rules.yaml", &errors);
  CHECK((set == nullptr) == !errors.empty());
  std::vector<std::string> out;
  for (const LoadError& e : errors) out.push_back(e.to_string());
  return out;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("the SPEC's example rules file loads") {
  std::vector<LoadError> errors;
  RuleSetPtr set = load_rules_file(fixture("spec_example.yaml"), &errors);
  CHECK(errors.empty());
  REQUIRE(set);
  std::vector<RuleSummary> rules = summarize(*set);
  REQUIRE(rules.size() == 5);
  CHECK(rules[0].name == "no-unbounded-delete");
  CHECK(rules[0].action == "deny");
  CHECK(rules[0].match == "commands=[delete, update] where=absent");
  CHECK(rules[1].action == "hold (1 of [dba:*], timeout 900s)");
  CHECK(rules[3].match == "principals=[acme/*@*] databases=[app]");
  CHECK(rules[4].name == "(default)");
  CHECK(rules[4].action == "deny");
}

TEST_CASE("every mistake of a file is reported with its position and field, in file order") {
  std::vector<LoadError> errors;
  CHECK(load_rules_file(fixture("invalid.yaml"), &errors) == nullptr);
  std::vector<std::string> got;
  for (const LoadError& e : errors) {
    std::string text = e.to_string();
    CHECK(text.rfind(fixture("invalid.yaml") + ":", 0) == 0);
    got.push_back(text.substr(fixture("").size()));
  }
  Lines expected = {
      "invalid.yaml:1:7: mode: \"enforced\" is not one of: enforce, monitor",
      "invalid.yaml:6:26: rules[0].match.commands[1]: unknown command \"dleete\" (did you mean "
      "\"delete\"?)",
      "invalid.yaml:7:14: rules[0].match.where: \"missing\" is not one of: absent",
      "invalid.yaml:9:11: rules[1].name: duplicate rule name \"no-unbounded-delete\"",
      "invalid.yaml:11:23: rules[1].match.classes[1]: unknown class \"reads\" (expected read, "
      "write, ddl, role, function, misc)",
      "invalid.yaml:12:22: rules[1].match.client_addrs[0]: \"10.0.0.1/8\" has bits set to the "
      "right of its prefix length",
      "invalid.yaml:12:36: rules[1].match.client_addrs[1]: bad prefix length in \"fe80::/200\" "
      "(0 to 128)",
      "invalid.yaml:12:50: rules[1].match.client_addrs[2]: \"not-an-address\" is not an IPv4 or "
      "IPv6 address or CIDR block",
      "invalid.yaml:13:16: rules[1].match.tables[0]: \"a.b.c\" has more than 2 dot-separated "
      "parts",
      "invalid.yaml:14:12: rules[1].match.sql: bad regular expression: missing ): (unclosed",
      "invalid.yaml:15:7: rules[1].match.colour: unknown key (expected one of: principals, jobs, "
      "databases, client_addrs, commands, classes, tables, reads, writes, columns, functions, "
      "lock_modes, where, sql)",
      "invalid.yaml:16:13: rules[1].action: \"block\" is not one of: allow, deny, hold, log",
      "invalid.yaml:19:16: rules[2].approvers: only meaningful with action: hold",
      "invalid.yaml:20:14: rules[2].timeout: only meaningful with action: hold",
      "invalid.yaml:21:5: rules[3]: action: hold needs \"approvers\" (principal globs that may "
      "approve)",
      "invalid.yaml:22:23: rules[3].match.tables[0]: unterminated double quote in "
      "\"\"Unterminated\"",
      "invalid.yaml:22:51: rules[3].match.columns[0]: \"a.b.c.d\" has more than 3 dot-separated "
      "parts",
      "invalid.yaml:24:25: rules[3].approvals_required: expected a whole number of at least 1",
      "invalid.yaml:25:14: rules[3].timeout: bad duration \"soon\" (expected e.g. 30s, 15m, 2h, "
      "1d)",
      "invalid.yaml:26:5: rules[4]: missing \"name\"",
      "invalid.yaml:29:14: masks[0].pattern: bad regular expression: missing ): (\\d+",
      "invalid.yaml:33:14: masks[1].replace: Rewrite schema requests 2 matches, but the regexp "
      "only has 1 parenthesized subexpressions.",
      "invalid.yaml:35:14: masks[2].match.commands: unknown key (expected one of: principals, "
      "jobs, databases, client_addrs)",
      "invalid.yaml:38:5: masks[3]: needs exactly one of \"pattern\" (a value mask) or "
      "\"columns\"",
      "invalid.yaml:43:32: tests[0].expect: \"would_deny\" is not one of: allow, deny, hold, log",
      "invalid.yaml:44:44: tests[1].rule: no rule is named \"no-such-rule\"",
      "invalid.yaml:45:5: tests[2]: missing \"sql\"",
  };
  CHECK(got == expected);
}

TEST_CASE("a YAML syntax error is reported with its position") {
  std::vector<LoadError> errors;
  CHECK(load_rules_file(fixture("syntax_error.yaml"), &errors) == nullptr);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 3);
  CHECK(errors[0].column > 1);
  CHECK(errors[0].message.rfind("invalid YAML: ", 0) == 0);
}

TEST_CASE("an unreadable file is an error naming the file") {
  std::vector<LoadError> errors;
  CHECK(load_rules_file(fixture("no-such-file.yaml"), &errors) == nullptr);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string() == fixture("no-such-file.yaml") + ": cannot read the rules file");
}

TEST_CASE("unknown and repeated keys at every level") {
  CHECK(errors_of("mode: enforce\ncolour: red\n") ==
        Lines{"rules.yaml:2:1: colour: unknown key (expected one of: mode, default, "
              "on_parse_error, rules, masks, tests)"});
  CHECK(errors_of("default: deny\ndefault: allow\n") ==
        Lines{"rules.yaml:2:1: default: key given twice"});
  CHECK(errors_of("rules:\n  - {name: a, action: deny, colour: red}\n") ==
        Lines{"rules.yaml:2:29: rules[0].colour: unknown key (expected one of: name, match, "
              "action, message, approvers, approvals_required, timeout)"});
  CHECK(errors_of("tests:\n  - {sql: SELECT 1, expect: allow, user: x}\n") ==
        Lines{"rules.yaml:2:36: tests[0].user: unknown key (expected one of: principal, job, "
              "database, client_addr, sql, expect, rule)"});
}

TEST_CASE("wrong types are errors") {
  CHECK(errors_of("rules:\n  - {name: a, action: deny, match: {commands: delete}}\n") ==
        Lines{"rules.yaml:2:47: rules[0].match.commands: expected a list, found a scalar"});
  CHECK(errors_of("rules:\n  - {name: a, action: deny, match: {principals: []}}\n") ==
        Lines{"rules.yaml:2:49: rules[0].match.principals: empty list (it would never match)"});
  CHECK(errors_of("rules:\n  - {name: [a], action: deny}\n") ==
        Lines{"rules.yaml:2:12: rules[0].name: expected a string, found a list"});
  CHECK(errors_of("rules:\n  - {name: a, action: deny, match: [x]}\n") ==
        Lines{"rules.yaml:2:36: rules[0].match: expected a mapping, found a list"});
  CHECK(errors_of("rules: {name: a}\n") ==
        Lines{"rules.yaml:1:8: rules: expected a list of rules"});
  CHECK(errors_of("rules:\n  - {name: a, action: hold, approvers: [x], approvals_required: two}\n") ==
        Lines{"rules.yaml:2:65: rules[0].approvals_required: expected a whole number of at "
              "least 1"});
  CHECK(errors_of("rules:\n  - {name: a, action: deny, message: {text: x}}\n") ==
        Lines{"rules.yaml:2:38: rules[0].message: expected a string, found a mapping"});
  CHECK(errors_of("on_parse_error: hold\n") ==
        Lines{"rules.yaml:1:17: on_parse_error: \"hold\" is not one of: allow, deny"});
}

TEST_CASE("a rule without an action, and hold fields on other actions") {
  CHECK(errors_of("rules:\n  - name: a\n") ==
        Lines{"rules.yaml:2:5: rules[0]: missing \"action\""});
  CHECK(errors_of("rules:\n  - {name: a, action: log, approvals_required: 2}\n") ==
        Lines{"rules.yaml:2:48: rules[0].approvals_required: only meaningful with action: hold"});
}

TEST_CASE("a hold's timeout is a duration longer than zero") {
  std::string hold = "rules:\n  - {name: a, action: hold, approvers: ['dba:*'], timeout: ";
  CHECK(errors_of(hold + "0s}\n") ==
        Lines{"rules.yaml:2:60: rules[0].timeout: bad duration \"0s\" (expected e.g. 30s, 15m, 2h, 1d)"});
  std::vector<LoadError> errors;
  RuleSetPtr set = load_rules_node(YAML::Load(hold + "1m30s}\n"), "rules.yaml", &errors);
  REQUIRE(set);
  CHECK(summarize(*set)[0].action == "hold (1 of [dba:*], timeout 90s)");
  set = load_rules_node(YAML::Load(hold + "1500ms}\n"), "rules.yaml", &errors);
  REQUIRE(set);
  CHECK(summarize(*set)[0].action == "hold (1 of [dba:*], timeout 1500ms)");
}

TEST_CASE("commands are checked against the statement kinds the parser reports") {
  CHECK(errors_of("rules:\n  - {name: a, action: deny, match: {commands: [drop_*]}}\n").empty());
  CHECK(errors_of("rules:\n  - {name: a, action: deny, match: {commands: [frobnicate]}}\n") ==
        Lines{"rules.yaml:2:48: rules[0].match.commands[0]: unknown command \"frobnicate\""});
}

TEST_CASE("lock_modes are PostgreSQL's lock modes in snake_case") {
  std::string rule = "rules:\n  - {name: a, action: deny, match: {lock_modes: ";
  std::vector<LoadError> errors;
  RuleSetPtr set =
      load_rules_node(YAML::Load(rule + "[access_exclusive, share]}}\n"), "rules.yaml", &errors);
  REQUIRE(set);
  CHECK(summarize(*set)[0].match == "lock_modes=[access_exclusive, share]");
  CHECK(errors_of(rule + "[access_exclusive, \"ACCESS EXCLUSIVE\", rowshare]}}\n") ==
        Lines{"rules.yaml:2:68: rules[0].match.lock_modes[1]: unknown lock mode "
              "\"ACCESS EXCLUSIVE\" (expected access_share, row_share, row_exclusive, "
              "share_update_exclusive, share, share_row_exclusive, exclusive, access_exclusive)",
              "rules.yaml:2:88: rules[0].match.lock_modes[2]: unknown lock mode \"rowshare\" "
              "(expected access_share, row_share, row_exclusive, share_update_exclusive, share, "
              "share_row_exclusive, exclusive, access_exclusive)"});
}

TEST_CASE("an inline sequence is taken as the rules list") {
  std::vector<LoadError> errors;
  YAML::Node node = YAML::Load("- {name: a, action: allow}\n- {name: a, action: deny}\n");
  CHECK(load_rules_node(node, "pgwarden.yaml", &errors) == nullptr);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string() == "pgwarden.yaml:2:10: rules[1].name: duplicate rule name \"a\"");
  errors.clear();
  RuleSetPtr set =
      load_rules_node(YAML::Load("- {name: a, action: allow}\n"), "pgwarden.yaml", &errors);
  REQUIRE(set);
  CHECK(summarize(*set)[0].name == "a");
}

TEST_CASE("an empty rules file denies everything") {
  std::vector<LoadError> errors;
  RuleSetPtr set = load_rules_node(YAML::Load(""), "rules.yaml", &errors);
  REQUIRE(set);
  std::vector<RuleSummary> rules = summarize(*set);
  REQUIRE(rules.size() == 1);
  CHECK(rules[0].action == "deny");
}
