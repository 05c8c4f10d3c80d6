// learn(): what each principal did that may be allowed, gathered per kind of statement, and why
// the rest is not learned. proposed_rules() (propose.cc) writes it out.
#include "rules/learn.h"

#include <algorithm>
#include <unordered_set>
#include <vector>

namespace pgw::rules {

namespace {

// Whether `name` is one of file_and_network_functions() (a trailing `*` matching any rest).
bool is_file_function(const std::string& name) {
  for (const std::string& f : file_and_network_functions()) {
    bool prefix = f.back() == '*';
    std::string_view stem(f.data(), prefix ? f.size() - 1 : f.size());
    if (prefix ? name.starts_with(stem) : name == stem) return true;
  }
  return false;
}

bool has(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Why a recorded statement is not learned as allowed; empty when it is.
std::string not_learned_because(const ObservedStatement& o) {
  const std::string& d = o.decision;
  std::string by = o.rule.empty() ? " (default)" : " by rule " + o.rule;
  if (d == "allow" || d == "log" || (d == "would_deny" && o.rule.empty())) {
    if (o.sqlstate == "25P02") return "never ran: its transaction had already failed (25P02)";
    return "";
  }
  if (d == "approved") {
    return "approved after a hold" + by + " (one approval is not a standing permission)";
  }
  if (d == "rejected" || d == "expired" || d == "withdrawn" || d == "hold") {
    return d + " after a hold" + by;
  }
  return d + by;
}

LearnedGroup group_of(const sql::StatementFacts& f) {
  bool ddl = has(f.classes, "ddl") || has(f.classes, "role");
  bool any_table = !f.tables_read.empty() || !f.tables_written.empty() || !f.tables_named.empty();
  if (ddl) return any_table ? LearnedGroup::ddl : LearnedGroup::ddl_objects;
  if (!f.tables_written.empty()) return LearnedGroup::writes;
  if (!f.tables_read.empty()) return LearnedGroup::reads;
  if (!f.tables_named.empty()) return LearnedGroup::maintenance;
  return LearnedGroup::session;
}

void add_tables(LearnedGroup group, const sql::StatementFacts& f, std::set<std::string>* tables) {
  auto add = [&](const std::vector<std::string>& names) {
    tables->insert(names.begin(), names.end());
  };
  if (group == LearnedGroup::ddl || group == LearnedGroup::writes) add(f.tables_written);
  if (group == LearnedGroup::ddl || group == LearnedGroup::reads) add(f.tables_read);
  if (group == LearnedGroup::ddl || group == LearnedGroup::maintenance) add(f.tables_named);
}

// Whether `commands:` can name the kind (parse() reports no other, but a rules file must load).
bool nameable(const std::string& command) {
  static const std::unordered_set<std::string> kKnown(sql::known_commands().begin(),
                                                      sql::known_commands().end());
  return kKnown.contains(command);
}

// Keeps a real statement of the fingerprint as its test case: one that `tests:` read as the
// session did, preferring one that succeeded on the server.
void keep_example(const ObservedStatement& o, LearnedExample* e) {
  ++e->count;
  bool succeeded = o.sqlstate.empty();
  if (!e->sql.empty() && (e->succeeded || !succeeded)) return;
  if (!testable(o)) return;
  e->principal = o.principal;
  e->database = o.database;
  e->sql = o.statement;
  e->succeeded = succeeded;
}

}  // namespace

const std::vector<std::string>& file_and_network_functions() {
  static const std::vector<std::string> kFunctions = {
      "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file",
      "lo_import",    "lo_export",           "dblink*",   "pg_file_*"};
  return kFunctions;
}

void learn(Learning* l, const ObservedStatement& o) {
  ++l->records;
  l->first_us = l->records == 1 ? o.ts_us : std::min(l->first_us, o.ts_us);
  l->last_us = std::max(l->last_us, o.ts_us);
  std::string why = not_learned_because(o);
  const sql::StatementFacts* f = why.empty() ? observed_facts(&l->cache, o) : nullptr;
  if (why.empty() && f == nullptr) why = "does not parse as one statement";
  if (why.empty() && f->executes) {
    why = "EXECUTE of a prepared statement (allowed as what it was prepared as)";
  }
  if (why.empty() && !nameable(f->command)) why = "its kind cannot be named in a rule";
  if (!why.empty()) {
    ++l->not_learned[why];
    return;
  }
  ++l->learned;
  LearnedPrincipal& p = l->principals[o.principal];
  ++p.statements;
  p.unbounded_write = p.unbounded_write || f->where_absent;
  p.classes.insert(f->classes.begin(), f->classes.end());
  LearnedGroup group = group_of(*f);
  LearnedTraffic& t = p.groups[group];
  ++t.statements;
  t.databases.insert(o.database);
  t.commands.insert(f->command);
  // Whoever opens transactions may have to end one either way: an error can roll back any of them.
  if (f->command == "begin") t.commands.insert({"commit", "rollback"});
  add_tables(group, *f, &t.tables);
  for (const std::string& fn : f->functions) {
    t.functions.insert(fn);
    if (is_file_function(fn)) p.file_functions.insert(fn);
  }
  keep_example(o, &t.by_fingerprint[f->fingerprint]);
}

}  // namespace pgw::rules
