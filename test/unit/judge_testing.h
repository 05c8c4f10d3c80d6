// Judging in unit tests: what a session keeps for judging, without a session.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proxy/judge/judge.h"
#include "test/unit/rules_testing.h"

namespace pgw {

// A session's judging state: the rules in force, who runs the statements, and the scope their
// own SQL set.
struct Judging {
  explicit Judging(rules::RuleSetPtr in_force) : rules(std::move(in_force)) {}

  rules::RuleSetPtr rules;
  rules::Context who{"acme/api", "", "app", "10.1.2.3"};
  SqlScope scope;
  bool normalize = false;

  std::vector<Judged> judge(std::string_view text) const {
    return judge_text(JudgeContext{.rules = rules, .who = who, .scope = scope, .normalize = normalize}, text);
  }

  // Judges `text` and, as the session does when none of it is refused, applies what it changes.
  std::vector<Judged> run(std::string_view text) {
    std::vector<Judged> judged = judge(text);
    bool any_refused = false;
    for (const Judged& j : judged) any_refused = any_refused || refused(j.decision);
    if (!any_refused)
      for (const Judged& j : judged) note_effects(scope, j);
    return judged;
  }
};

// Rules that deny any DELETE from billing.accounts and allow everything else.
inline Judging billing_protected() {
  return Judging(rules::load("default: allow\n"
                             "rules:\n"
                             "  - name: keep-billing\n"
                             "    match: {commands: [delete], tables: [billing.accounts]}\n"
                             "    action: deny\n"
                             "    message: billing rows are kept\n"));
}

}  // namespace pgw
