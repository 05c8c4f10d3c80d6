// summarize(): the rules as SHOW RULES lists them.
#include "rules/ruleset.h"

namespace pgw::rules {

namespace {

std::string describe_action(const RuleSet& set, const Rule& rule) {
  std::string out = action_name(rule.action);
  bool recorded_only = set.monitor && (rule.action == Action::deny || rule.action == Action::hold);
  if (recorded_only) out += " (monitor)";
  if (rule.action != Action::hold) return out;
  std::string approvers;
  for (const Glob& a : rule.approvers) approvers += (approvers.empty() ? "" : ", ") + a.text;
  out += " (" + std::to_string(rule.approvals_required) + " of [" + approvers + "]";
  if (rule.timeout) {
    long long ms = rule.timeout->count();
    out += ", timeout " + (ms % 1000 ? std::to_string(ms) + "ms" : std::to_string(ms / 1000) + "s");
  }
  return out + ")";
}

}  // namespace

std::vector<RuleSummary> summarize(const RuleSet& set) {
  std::vector<RuleSummary> out;
  for (const Rule& rule : set.rules) {
    out.push_back({rule.name, describe_action(set, rule),
                   rule.summary.empty() ? "(every statement)" : rule.summary});
  }
  out.push_back({"(default)", action_name(set.default_action), "(no rule matched)"});
  return out;
}

}  // namespace pgw::rules
