// The compiled form of a rules file, shared by loading, evaluation, the tests runner and the
// masks. Internal to rules/: callers see only the opaque RuleSet of rules.h. Everything a
// statement is matched against is compiled here once, at load time.
#pragma once

#include <re2/re2.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/cidr.h"
#include "rules/glob.h"
#include "rules/names.h"
#include "rules/rules.h"
#include "sqlparse/facts.h"

namespace pgw::rules {

// pgAudit statement classes as bits, so `classes:` is one AND per evaluation.
constexpr unsigned kClassRead = 1u << 0;
constexpr unsigned kClassWrite = 1u << 1;
constexpr unsigned kClassDdl = 1u << 2;
constexpr unsigned kClassRole = 1u << 3;
constexpr unsigned kClassFunction = 1u << 4;
constexpr unsigned kClassMisc = 1u << 5;

// The bit of a class name; 0 for a name that is not a class.
unsigned class_bit(std::string_view name);

// The `match` fields that look at who sent the statement (the only ones masks may use).
// An empty list is a field that was not given: it matches everyone.
struct SessionMatch {
  std::vector<Glob> principals;
  std::vector<Glob> jobs;
  std::vector<Glob> databases;
  std::vector<Cidr> client_addrs;
};

// The `match` fields that look at the statement itself. An empty list (or 0 classes) is a
// field that was not given.
struct StatementMatch {
  std::vector<Glob> commands;
  unsigned classes = 0;
  std::vector<QualifiedGlob> tables;  // read, written or named (LOCK, VACUUM, COMMENT ON, ...)
  std::vector<QualifiedGlob> reads;
  std::vector<QualifiedGlob> writes;
  std::vector<QualifiedGlob> columns;
  std::vector<Glob> functions;
  std::vector<std::string> lock_modes;  // LOCK's modes, as sql::known_lock_modes() names them
  bool where_absent = false;
  std::shared_ptr<const RE2> sql;  // over the statement text; null when not given
};

// One entry of `rules:`.
struct Rule {
  std::string name;
  Action action = Action::deny;
  std::string message;
  SessionMatch session;
  StatementMatch statement;
  std::string summary;  // the match fields as written, for SHOW RULES
  // hold only: approver globs (compiled once, at load), distinct approvals needed, wait before expiry.
  std::vector<Glob> approvers;
  int approvals_required = 1;
  std::optional<std::chrono::milliseconds> timeout;
};

// One entry of `masks:`: a value mask (pattern) or a column mask (columns).
struct Mask {
  std::string name;
  SessionMatch session;
  std::shared_ptr<const RE2> pattern;  // value mask; null for a column mask
  std::vector<QualifiedGlob> columns;  // column mask: schema.table.column globs
  std::string replace;                 // RE2 rewrite (value mask) or literal (column mask)
};

// One entry of `tests:`. A session field the case leaves out matches any rule's field about
// it (a case without `database:` is judged as if it used whatever database the rule names).
struct TestCase {
  Context context;
  struct {
    bool principal = false;
    bool job = false;
    bool database = false;
    bool client_addr = false;
  } given;
  std::string sql;
  Action expect = Action::allow;
  std::optional<std::string> rule;
};

// A whole rules file.
struct RuleSet {
  bool monitor = false;                  // mode: monitor
  Action default_action = Action::deny;  // default: allow | deny
  Action on_parse_error = Action::deny;  // on_parse_error: allow | deny
  std::vector<Rule> rules;
  std::vector<Mask> masks;
  std::vector<TestCase> tests;
};

// The text of an action as written in rules files ("allow", "deny", "hold", "log").
const char* action_name(Action action);

// RE2 options for every pattern of a rules file: errors are reported, not logged.
RE2::Options regex_options();

}  // namespace pgw::rules
