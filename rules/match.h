// Whether a rule's or mask's match fields select a statement or a session.
#pragma once

#include <optional>
#include <string_view>

#include "rules/ruleset.h"

namespace pgw::rules {

// Session fields a `tests:` case left out: rules' fields about them match any value.
enum OpenField : unsigned {
  kOpenPrincipal = 1,
  kOpenJob = 2,
  kOpenDatabase = 4,
  kOpenClientAddr = 8,
};

// What one evaluation matches against: the session, and the statement when there is one.
// Derived values (class bits, the parsed client address) are computed once per evaluation.
struct Subject {
  Subject(const Context& context, const sql::StatementFacts* facts, std::string_view sql);
  const Context& context;
  const sql::StatementFacts* facts;  // nullptr when matching a session only (masks)
  std::string_view sql;
  unsigned classes = 0;
  unsigned open_fields = 0;  // OpenField bits; 0 outside `tests:`
  // Parsed lazily: most rule sets never look at addresses.
  mutable bool address_parsed = false;
  mutable std::optional<Address> address;
};

// Whether every given session field matches.
bool session_matches(const SessionMatch& match, const Subject& subject);

// Whether every given statement field matches `subject.facts` (which must be set).
bool statement_matches(const StatementMatch& match, const Subject& subject);

// The decision of the first rule whose fields all match, or the default.
Decision decide(const RuleSet& rules, const Subject& subject);

}  // namespace pgw::rules
