// evaluate(): first matching rule wins, top to bottom; the default when none matches.
#include <fmt/format.h>

#include "rules/match.h"
#include "rules/ruleset.h"

namespace pgw::rules {

namespace {

// Monitor mode records deny and hold without enforcing them.
bool enforced(const RuleSet& set, Action action) {
  return !(set.monitor && (action == Action::deny || action == Action::hold));
}

Decision from_rule(const RuleSet& set, const Rule& rule) {
  Decision d;
  d.action = rule.action;
  d.enforced = enforced(set, rule.action);
  d.rule = rule.name;
  d.message = rule.message;
  if (rule.action == Action::hold) {
    d.approvers = rule.approvers;
    d.approvals_required = rule.approvals_required;
    d.timeout = rule.timeout;
  }
  return d;
}

}  // namespace

const char* action_name(Action action) {
  switch (action) {
    case Action::allow: return "allow";
    case Action::deny: return "deny";
    case Action::hold: return "hold";
    case Action::log: return "log";
  }
  return "deny";
}

RE2::Options regex_options() {
  RE2::Options options;
  options.set_log_errors(false);
  return options;
}

unsigned class_bit(std::string_view name) {
  if (name == "read") return kClassRead;
  if (name == "write") return kClassWrite;
  if (name == "ddl") return kClassDdl;
  if (name == "role") return kClassRole;
  if (name == "function") return kClassFunction;
  if (name == "misc") return kClassMisc;
  return 0;
}

std::string Decision::audit_name() const {
  if (action == Action::deny) return enforced ? "deny" : "would_deny";
  if (action == Action::hold) return enforced ? "hold" : "would_hold";
  return action_name(action);
}

std::string LoadError::to_string() const {
  std::string out = file;
  if (line > 0) out += fmt::format(":{}:{}", line, column);
  out += ": ";
  if (!field.empty()) out += fmt::format("{}: ", field);
  return out + message;
}

Decision evaluate(const RuleSet& set, const Context& ctx, const sql::StatementFacts& facts,
                  std::string_view sql) {
  return decide(set, Subject(ctx, &facts, sql));
}

Decision decide(const RuleSet& set, const Subject& subject) {
  for (const Rule& rule : set.rules) {
    if (statement_matches(rule.statement, subject) && session_matches(rule.session, subject)) {
      return from_rule(set, rule);
    }
  }
  Decision d;
  d.action = set.default_action;
  d.enforced = enforced(set, d.action);
  if (d.action == Action::deny) d.message = "no rule allows this statement (default: deny)";
  return d;
}

Decision evaluate_parse_error(const RuleSet& set, const Context&, std::string_view error) {
  Decision d;
  d.action = set.on_parse_error;
  d.enforced = enforced(set, d.action);
  d.message =
      "statement could not be parsed (on_parse_error: " + std::string(action_name(d.action)) +
      "): " + std::string(error);
  return d;
}

}  // namespace pgw::rules
