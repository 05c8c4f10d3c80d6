// start_coverage(), cover(), most_frequent_defaults(): rules counted against recorded traffic.
#include "rules/coverage.h"

#include <algorithm>

#include "rules/match.h"
#include "rules/ruleset.h"

namespace pgw::rules {

Coverage start_coverage(const RuleSet& rules) {
  Coverage c;
  for (const RuleSummary& s : summarize(rules)) c.rules.push_back({s.name, s.action});
  return c;
}

void cover(Coverage* c, const RuleSet& rules, const ObservedStatement& o) {
  ++c->statements;
  const sql::StatementFacts* facts = observed_facts(&c->cache, o);
  if (facts == nullptr) {
    ++c->unparsed;
    return;
  }
  RuleCount& fallback = c->rules.back();
  auto recorded = std::find_if(c->rules.begin(), c->rules.end() - 1,
                               [&](const RuleCount& r) { return r.rule == o.rule; });
  if (o.rule.empty()) {
    ++fallback.recorded;
  } else if (recorded != c->rules.end() - 1) {
    ++recorded->recorded;
  } else {
    ++c->recorded_other_rules[o.rule];
  }
  Decision d = decide(rules, Subject(observed_context(o), facts, o.statement));
  auto judged = std::find_if(c->rules.begin(), c->rules.end() - 1,
                             [&](const RuleCount& r) { return r.rule == d.rule; });
  if (!d.rule.empty() && judged != c->rules.end() - 1) {
    ++judged->judged;
    return;
  }
  ++fallback.judged;
  DefaultFingerprint& f = c->fell_to_default[facts->fingerprint];
  if (f.count++ == 0) {
    f.fingerprint = facts->fingerprint;
    f.principal = o.principal;
    f.example = o.statement;
  }
}

std::vector<DefaultFingerprint> most_frequent_defaults(const Coverage& c, size_t limit) {
  std::vector<DefaultFingerprint> out;
  for (const auto& [fingerprint, f] : c.fell_to_default) out.push_back(f);
  std::stable_sort(
      out.begin(), out.end(),
      [](const DefaultFingerprint& a, const DefaultFingerprint& b) { return a.count > b.count; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace pgw::rules
