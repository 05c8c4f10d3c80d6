// `pgwarden coverage` (SPEC section 13): for a rules file and the statements the audit recorded,
// how many statements each rule decided, which rules never matched, and which kinds of statement
// fell to the default. Counted twice: as recorded (the audit's `rule` column: what the rules in
// force then decided) and re-judged (what this rules file decides on the same traffic, which is
// what a DBA reviewing new or learned rules needs). Nothing here reads a store.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "rules/observed.h"

namespace pgw::rules {

// One rule, or the default, and the statements it decided.
struct RuleCount {
  std::string rule;      // the rule's name; "(default)" for the default
  std::string action;    // as SHOW RULES lists it
  int64_t recorded = 0;  // statements the audit says it decided
  int64_t judged = 0;    // statements it decides when the recorded traffic is judged again
};

// Statements of one fingerprint that the rules file leaves to the default.
struct DefaultFingerprint {
  std::string fingerprint;
  int64_t count = 0;
  std::string principal;  // of the first example
  std::string example;    // the first statement of the fingerprint
};

// What cover() counted so far.
struct Coverage {
  int64_t statements = 0;
  std::vector<RuleCount> rules;  // in evaluation order, then the "(default)" row
  // Statements that do not parse: recorded with on_parse_error's decision, judged again by it.
  int64_t unparsed = 0;
  // Statements the audit says a rule decided that is not in this rules file, by its name.
  std::map<std::string, int64_t> recorded_other_rules;
  std::map<std::string, DefaultFingerprint> fell_to_default;  // re-judged, by fingerprint
  FactsCache cache;
};

// An empty count for the rules of `rules`.
Coverage start_coverage(const RuleSet& rules);

// Counts one recorded statement, as recorded and as `rules` judge it again (with the recorded
// principal, job, database and client address; an EXECUTE is judged as what its text says, since
// the statement it runs is not in its record).
void cover(Coverage* coverage, const RuleSet& rules, const ObservedStatement& observed);

// The fingerprints that fell to the default, most statements first, at most `limit`.
std::vector<DefaultFingerprint> most_frequent_defaults(const Coverage& coverage, size_t limit);

}  // namespace pgw::rules
