// DBA-written rules (SPEC section 6): loading and strict validation of rules.yaml, first-match
// evaluation of statement facts to a Decision, the `tests:` cases, and value/column masks.
// A loaded RuleSet is immutable; the proxy swaps whole sets on reload. Rules never touch sockets.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/glob.h"
#include "sqlparse/facts.h"

namespace YAML {
class Node;
}

namespace pgw::rules {

// What a rule tells the proxy to do with a statement.
enum class Action { allow, deny, hold, log };

// Who sent a statement and where: what `match` fields other than the statement's own facts see.
struct Context {
  std::string principal;
  std::string job_id;
  std::string database;
  std::string client_addr;  // textual IPv4 or IPv6 address; empty for a Unix socket
};

// The outcome of evaluating one statement.
struct Decision {
  Action action = Action::deny;
  // In `mode: monitor` a deny or hold is only recorded (`would_deny` / `would_hold`) and the
  // statement runs: `action` keeps what the rule said, `enforced` is false.
  bool enforced = true;
  // Name of the matching rule; empty when the default applied (or on_parse_error).
  std::string rule;
  // The rule's message (deny) or a generated one for the default and parse errors.
  std::string message;
  // For hold: who may approve, how many distinct approvers, how long to wait (nullopt: the
  // configured default timeout).
  std::vector<Glob> approvers;
  int approvals_required = 1;
  std::optional<std::chrono::milliseconds> timeout;

  // The audit `decision` value before any approval: allow, deny, log, would_deny, would_hold,
  // or "hold" for a statement that waits for approval.
  std::string audit_name() const;
};

// A compiled rule set. Opaque: build it with load_rules_*, use it with evaluate() and friends.
struct RuleSet;
using RuleSetPtr = std::shared_ptr<const RuleSet>;

// A validation error, "FILE:LINE:COL: FIELD: what is wrong" when printed.
struct LoadError {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string field;  // e.g. "rules[2].match.commands[0]"
  std::string message;
  std::string to_string() const;
};

// Loads and validates a rules file. On failure returns nullptr and fills `errors` (every error
// found, not just the first).
RuleSetPtr load_rules_file(const std::string& path, std::vector<LoadError>* errors);
// The same for a YAML node already read from `file` (the inline `rules:` of pgwarden.yaml):
// a mapping with the rules file's keys, or a sequence taken as its `rules:` list.
RuleSetPtr load_rules_node(const YAML::Node& node, const std::string& file,
                           std::vector<LoadError>* errors);

// Decides on one parsed statement. `sql` is the statement's text (for `sql:` patterns).
Decision evaluate(const RuleSet& rules, const Context& ctx, const sql::StatementFacts& facts,
                  std::string_view sql);
// Decides on a statement libpg_query could not parse, following `on_parse_error`.
Decision evaluate_parse_error(const RuleSet& rules, const Context& ctx, std::string_view error);

// One failed `tests:` case: what was expected and what happened instead.
struct TestFailure {
  int index = 0;  // position in `tests:`
  std::string principal;
  std::string sql;
  std::string expected;  // action name, and rule if the case named one
  std::string got;       // action name and the rule that matched instead ("(default)" if none)
};
// Runs the `tests:` cases of the set; returns the failures (empty: all passed). `total` gets the
// number of cases. A case's decision is the first non-allow decision of its statements (or
// allow). A session field the case leaves out (principal, job, database, client_addr) does not
// hold it to rules' fields about that value: a case without `database:` passes `databases: [app]`.
std::vector<TestFailure> run_tests(const RuleSet& rules, int* total);

// A short listing of the rules (name, action, match summary) for `SHOW RULES`, in evaluation
// order, ending with a "(default)" row for the `default:` action.
struct RuleSummary {
  std::string name;
  std::string action;
  std::string match;
};
std::vector<RuleSummary> summarize(const RuleSet& rules);

// Masks that apply to one session, compiled once when the session's principal is known.
struct SessionMasks;
using SessionMasksPtr = std::shared_ptr<const SessionMasks>;
// nullptr when no mask selects this session (the DataRow path then costs nothing).
SessionMasksPtr masks_for(const RuleSet& rules, const Context& ctx);

// A column mask that names a column: the mask's name (for the audit and refusals) and the text
// that replaces the whole value.
struct MaskedColumn {
  std::string name;
  std::string replace;
};
// The first column mask (file order) naming `schema.table.column` for this session, or nullptr.
const MaskedColumn* column_mask(const SessionMasks& masks, std::string_view qualified_column);
// The session's first column mask, or nullptr: what stands in for a column the proxy cannot
// resolve to its source, which must be taken as masked.
const MaskedColumn* any_column_mask(const SessionMasks& masks);
// Whether some column mask of the session could name a column of `schema.table`.
bool table_has_column_mask(const SessionMasks& masks, std::string_view qualified_table);
// SQL LIKE patterns (escape character '\') that the name of every column a column mask could
// name matches: the proxy asks the catalog only about those columns.
std::vector<std::string> column_name_patterns(const SessionMasks& masks);
// The name of the session's first value mask, or nullptr when it has none.
const std::string* value_mask_name(const SessionMasks& masks);

// Applies the session's value masks to one text value. Returns true and sets `out` if anything
// was replaced; `count` is incremented by the number of masks that changed the value.
// Masks apply in file order; a mask applies when its pattern matches the original value (one
// RE2::Set match decides which do), and replaces its matches only in text no earlier mask
// replaced: what a mask wrote is never scanned again, and the text around a match (for `\b`,
// `^`, `$`) is always the original value's. Empty matches replace nothing.
bool mask_value(const SessionMasks& masks, std::string_view value, std::string* out, int* count);

}  // namespace pgw::rules
