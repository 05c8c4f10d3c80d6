// load_rules_file / load_rules_node: the top level of a rules file, its rules, masks and tests.
#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include "rules/duration.h"
#include "rules/load_match.h"
#include "rules/ruleset.h"
#include "rules/yaml_reader.h"

namespace pgw::rules {

namespace {

std::string at(const std::string& list, size_t i) { return list + "[" + std::to_string(i) + "]"; }

// approvers, approvals_required and timeout: only a hold waits for approval.
void read_hold_fields(Reader& r, const YAML::Node& node, const std::string& field, Rule* rule) {
  bool hold = rule->action == Action::hold;
  for (const char* key : {"approvers", "approvals_required", "timeout"}) {
    if (node[key] && !hold)
      report(r, node[key], field + "." + key, "only meaningful with action: hold");
  }
  if (!hold) return;
  if (!node["approvers"]) {
    report(r, node, field, "action: hold needs \"approvers\" (principal globs that may approve)");
  }
  if (const YAML::Node n = node["approvers"]) {
    read_string_list(r, n, field + ".approvers",
                     [&](const std::string& v, const YAML::Node& item, const std::string& item_field) {
                       Glob g;
                       std::string error;
                       if (compile_glob(v, Folding::exact, &g, &error)) rule->approvers.push_back(std::move(g));
                       else report(r, item, item_field, error);
                     });
  }
  if (const YAML::Node n = node["approvals_required"]) {
    int count = 0;
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, count) || count < 1) {
      report(r, n, field + ".approvals_required", "expected a whole number of at least 1");
    }
    rule->approvals_required = count;
  }
  if (const YAML::Node n = node["timeout"]) {
    std::optional<std::string> text = read_string(r, n, field + ".timeout");
    if (text) rule->timeout = parse_duration(*text);
    if (text && (!rule->timeout || rule->timeout->count() == 0)) {
      report(r, n, field + ".timeout",
             "bad duration \"" + *text + "\" (expected e.g. 30s, 15m, 2h, 1d)");
    }
  }
}

void read_rule(Reader& r, const YAML::Node& node, const std::string& field,
               std::set<std::string>* names, RuleSet* set) {
  if (!check_keys(
          r, node, field,
          {"name", "match", "action", "message", "approvers", "approvals_required", "timeout"})) {
    return;
  }
  Rule rule;
  if (!node["name"]) report(r, node, field, "missing \"name\"");
  if (!node["action"]) report(r, node, field, "missing \"action\"");
  if (const YAML::Node n = node["name"]) {
    std::optional<std::string> name = read_string(r, n, field + ".name");
    if (name && name->empty()) report(r, n, field + ".name", "a rule name cannot be empty");
    if (name && !names->insert(*name).second) {
      report(r, n, field + ".name", "duplicate rule name \"" + *name + "\"");
    }
    if (name) rule.name = *name;
  }
  std::optional<Action> action;
  if (const YAML::Node n = node["action"]) action = read_action(r, n, field + ".action");
  rule.action = action.value_or(Action::deny);
  if (const YAML::Node n = node["message"]) {
    rule.message = read_string(r, n, field + ".message").value_or("");
  }
  if (const YAML::Node n = node["match"]) {
    read_rule_match(r, n, field + ".match", &rule.session, &rule.statement, &rule.summary);
  }
  if (action) read_hold_fields(r, node, field, &rule);
  set->rules.push_back(std::move(rule));
}

void read_rules(Reader& r, const YAML::Node& node, const std::string& field, RuleSet* set) {
  if (!node.IsSequence()) {
    return report(r, node, field, "expected a list of rules");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) read_rule(r, node[i], at(field, i), &names, set);
}

void read_mask(Reader& r, const YAML::Node& node, const std::string& field,
               std::set<std::string>* names, RuleSet* set) {
  if (!check_keys(r, node, field, {"name", "match", "pattern", "columns", "replace"})) return;
  Mask mask;
  if (!node["name"]) report(r, node, field, "missing \"name\"");
  if (!node["replace"]) report(r, node, field, "missing \"replace\"");
  if (bool(node["pattern"]) == bool(node["columns"])) {
    report(r, node, field, "needs exactly one of \"pattern\" (a value mask) or \"columns\"");
  }
  if (const YAML::Node n = node["name"]) {
    mask.name = read_string(r, n, field + ".name").value_or("");
    if (!names->insert(mask.name).second) {
      report(r, n, field + ".name", "duplicate mask name \"" + mask.name + "\"");
    }
  }
  if (const YAML::Node n = node["match"]) read_mask_match(r, n, field + ".match", &mask.session);
  if (const YAML::Node n = node["replace"]) {
    mask.replace = read_string(r, n, field + ".replace").value_or("");
  }
  if (const YAML::Node n = node["columns"]) {
    read_string_list(r, n, field + ".columns",
                     [&](const std::string& v, const YAML::Node& item, const std::string& f) {
                       QualifiedGlob g;
                       std::string error;
                       if (!compile_qualified(v, 3, &g, &error)) return report(r, item, f, error);
                       mask.columns.push_back(std::move(g));
                     });
  }
  if (const YAML::Node n = node["pattern"]) {
    std::optional<std::string> pattern = read_string(r, n, field + ".pattern");
    if (!pattern) return;
    auto re = std::make_shared<const RE2>(*pattern, regex_options());
    std::string error;
    if (!re->ok()) {
      return report(r, n, field + ".pattern", "bad regular expression: " + re->error());
    }
    if (node["replace"] && !re->CheckRewriteString(mask.replace, &error)) {
      return report(r, node["replace"], field + ".replace", error);
    }
    mask.pattern = std::move(re);
  }
  set->masks.push_back(std::move(mask));
}

void read_masks(Reader& r, const YAML::Node& node, RuleSet* set) {
  if (!node.IsSequence()) return report(r, node, "masks", "expected a list of masks");
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) read_mask(r, node[i], at("masks", i), &names, set);
}

void read_test(Reader& r, const YAML::Node& node, const std::string& field, RuleSet* set) {
  if (!check_keys(r, node, field,
                  {"principal", "job", "database", "client_addr", "sql", "expect", "rule"})) {
    return;
  }
  TestCase test;
  if (!node["sql"]) report(r, node, field, "missing \"sql\"");
  if (!node["expect"]) report(r, node, field, "missing \"expect\"");
  auto text = [&](const char* key, std::string* out) {
    const YAML::Node n = node[key];
    if (n) *out = read_string(r, n, field + "." + key).value_or("");
    return bool(n);
  };
  test.given.principal = text("principal", &test.context.principal);
  test.given.job = text("job", &test.context.job_id);
  test.given.database = text("database", &test.context.database);
  test.given.client_addr = text("client_addr", &test.context.client_addr);
  text("sql", &test.sql);
  if (test.given.client_addr && !parse_address(test.context.client_addr)) {
    report(r, node["client_addr"], field + ".client_addr", "not an IPv4 or IPv6 address");
  }
  if (const YAML::Node n = node["expect"]) {
    test.expect = read_action(r, n, field + ".expect").value_or(Action::allow);
  }
  if (const YAML::Node n = node["rule"]) {
    test.rule = read_string(r, n, field + ".rule");
    bool known = false;
    for (const Rule& rule : set->rules) known = known || (test.rule && rule.name == *test.rule);
    if (test.rule && !known) {
      report(r, n, field + ".rule", "no rule is named \"" + *test.rule + "\"");
    }
  }
  set->tests.push_back(std::move(test));
}

void read_tests(Reader& r, const YAML::Node& node, RuleSet* set) {
  if (!node.IsSequence()) return report(r, node, "tests", "expected a list of test cases");
  for (size_t i = 0; i < node.size(); ++i) read_test(r, node[i], at("tests", i), set);
}

void read_top(Reader& r, const YAML::Node& node, RuleSet* set) {
  if (!check_keys(r, node, "", {"mode", "default", "on_parse_error", "rules", "masks", "tests"})) {
    return;
  }
  if (const YAML::Node n = node["mode"]) {
    set->monitor = read_choice(r, n, "mode", {"enforce", "monitor"}).value_or("") == "monitor";
  }
  if (const YAML::Node n = node["default"]) {
    set->default_action =
        read_choice(r, n, "default", {"allow", "deny"}).value_or("deny") == "allow" ? Action::allow
                                                                                    : Action::deny;
  }
  if (const YAML::Node n = node["on_parse_error"]) {
    set->on_parse_error =
        read_choice(r, n, "on_parse_error", {"allow", "deny"}).value_or("deny") == "allow"
            ? Action::allow
            : Action::deny;
  }
  if (const YAML::Node n = node["rules"]) read_rules(r, n, "rules", set);
  if (const YAML::Node n = node["masks"]) read_masks(r, n, set);
  if (const YAML::Node n = node["tests"]) read_tests(r, n, set);
}

}  // namespace

RuleSetPtr load_rules_node(const YAML::Node& node, const std::string& file,
                           std::vector<LoadError>* errors) {
  Reader r{file, errors};
  size_t before = errors->size();
  auto set = std::make_shared<RuleSet>();
  if (node.IsSequence()) {
    read_rules(r, node, "rules", set.get());
  } else if (!node.IsNull()) {
    read_top(r, node, set.get());
  }
  if (errors->size() == before) return set;
  std::stable_sort(errors->begin() + static_cast<std::ptrdiff_t>(before), errors->end(),
                   [](const LoadError& a, const LoadError& b) {
                     return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                   });
  return nullptr;
}

RuleSetPtr load_rules_file(const std::string& path, std::vector<LoadError>* errors) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in) {
    errors->push_back(LoadError{path, 0, 0, "", "cannot read the rules file"});
    return nullptr;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    errors->push_back(
        LoadError{path, e.mark.line + 1, e.mark.column + 1, "", "invalid YAML: " + e.msg});
    return nullptr;
  }
  return load_rules_node(root, path, errors);
}

}  // namespace pgw::rules
