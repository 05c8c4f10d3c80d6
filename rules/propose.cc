// proposed_rules(): what learn() gathered, written as a rules file for a DBA to review. Per
// principal pattern the allow rules come in an order that makes them as narrow as the rule
// language allows (a match list matches when any item does, so a list of tables alone does not
// keep a statement to those tables):
//   <p>-ddl, <p>-writes            schema changes naming tables, writes: their tables
//   <p>-no-other-writes (deny)     anything else that writes a table
//   <p>-reads, <p>-maintenance     reads, LOCK/VACUUM/ANALYZE: their tables
//   <p>-no-other-tables (deny)     anything else that touches a table
//   <p>-session, <p>-ddl-objects   what touches no table: their kinds
// and ahead of every pattern, deny rules for an UPDATE/DELETE without WHERE and for file and
// network functions, for the patterns never seen doing them.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <vector>

#include "rules/learn.h"

namespace pgw::rules {

namespace {

// DDL that destroys data.
const std::vector<std::string> kDestructiveDdl = {"drop_table", "drop_schema", "truncate",
                                                  "alter_table_drop_column"};
constexpr const char* kUnboundedRule = "learned-no-unbounded-write";
constexpr const char* kFileRule = "learned-no-file-or-network-functions";
constexpr size_t kTestsPerRule = 3;  // real statements per allow rule, most frequent first

// Everything learned of the principals one pattern stands for.
struct Pattern {
  std::string glob;
  std::vector<std::string> principals;
  LearnedPrincipal traffic;
  std::string slug;  // the prefix of its rule names
};

// Whether `text` is a lower-case name: letters, digits, `_` and the characters of `also`, not
// starting with a digit.
bool plain_name(std::string_view text, std::string_view also) {
  if (text.empty() || (text[0] >= '0' && text[0] <= '9')) return false;
  return std::all_of(text.begin(), text.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           also.find(c) != std::string_view::npos;
  });
}

// A scalar as YAML reads it back unchanged: plain when it is a simple name, else double-quoted.
std::string scalar(std::string_view text) {
  if (plain_name(text, ".-") && text != "null" && text != "true" && text != "false") {
    return std::string(text);
  }
  YAML::Emitter e;
  e << YAML::DoubleQuoted << std::string(text);
  return e.c_str();
}

// A recorded table ("schema.table", names as the server stores them) as a rules-file name: a part
// that is not a plain lower-case identifier is double-quoted, so that case and a `*` stay literal.
std::string table_name(const std::string& table) {
  size_t dot = table.find('.');
  std::vector<std::string_view> parts = {table};
  if (dot != std::string::npos) {
    parts = {std::string_view(table).substr(0, dot), std::string_view(table).substr(dot + 1)};
  }
  std::string out;
  for (std::string_view part : parts) {
    if (!out.empty()) out += '.';
    if (plain_name(part, "")) {
      out += part;
      continue;
    }
    out += '"';
    for (char c : part) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    out += '"';
  }
  return out;
}

template <typename Names, typename Format>
std::string flow_list(const Names& names, Format format) {
  std::string out = "[";
  for (const auto& n : names) out += (out.size() > 1 ? ", " : "") + scalar(format(n));
  return out + "]";
}
template <typename Names>
std::string flow_list(const Names& names) {
  return flow_list(names, [](const std::string& n) { return n; });
}

// A comment line: `text` (whose control characters would end the comment early) and a newline.
std::string comment_line(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return text + "\n";
}

// "1 statement", "2 statements".
std::string counted(int64_t n, std::string_view noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

std::string joined(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// "acme/shop@*" -> "acme-shop": lower-case letters, digits and single dashes.
std::string slug(const std::string& glob) {
  std::string out;
  for (char c : glob) {
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    bool word = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9');
    if (word)
      out += lower;
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "principal" : out;
}

void merge(const LearnedPrincipal& from, LearnedPrincipal* into) {
  into->statements += from.statements;
  into->unbounded_write = into->unbounded_write || from.unbounded_write;
  into->file_functions.insert(from.file_functions.begin(), from.file_functions.end());
  into->classes.insert(from.classes.begin(), from.classes.end());
  for (const auto& [group, t] : from.groups) {
    LearnedTraffic& u = into->groups[group];
    u.statements += t.statements;
    u.databases.insert(t.databases.begin(), t.databases.end());
    u.commands.insert(t.commands.begin(), t.commands.end());
    u.tables.insert(t.tables.begin(), t.tables.end());
    u.functions.insert(t.functions.begin(), t.functions.end());
    for (const auto& [fingerprint, e] : t.by_fingerprint) {
      LearnedExample& kept = u.by_fingerprint[fingerprint];
      int64_t count = kept.count + e.count;
      if (kept.sql.empty() || (!kept.succeeded && e.succeeded && !e.sql.empty())) kept = e;
      kept.count = count;
    }
  }
}

// Principals grouped into patterns: "repository@ref" principals seen with several refs become
// "repository@*"; every other principal stands for itself.
std::vector<Pattern> patterns(const Learning& l) {
  std::map<std::string, std::vector<std::string>> by_glob, by_repository;
  for (const auto& [principal, traffic] : l.principals) {
    size_t at = principal.rfind('@');
    if (at == std::string::npos || at == 0) {
      by_glob[principal] = {principal};
    } else {
      by_repository[principal.substr(0, at)].push_back(principal);
    }
  }
  for (auto& [repository, principals] : by_repository) {
    std::string glob = principals.size() > 1 ? repository + "@*" : principals[0];
    by_glob[glob] = std::move(principals);
  }
  std::vector<Pattern> out;
  std::set<std::string> slugs;
  for (auto& [glob, principals] : by_glob) {
    Pattern p;
    p.glob = glob;
    p.principals = std::move(principals);
    p.slug = slug(glob);
    for (int n = 2; !slugs.insert(p.slug).second; ++n)
      p.slug = slug(glob) + "-" + std::to_string(n);
    for (const std::string& principal : p.principals) merge(l.principals.at(principal), &p.traffic);
    out.push_back(std::move(p));
  }
  return out;
}

// One `tests:` case.
struct TestLine {
  std::string principal, database, sql, expect, rule;
};

struct Writer {
  std::string rules;
  std::vector<TestLine> tests;
};

const char* group_suffix(LearnedGroup g) {
  switch (g) {
    case LearnedGroup::ddl: return "ddl";
    case LearnedGroup::writes: return "writes";
    case LearnedGroup::reads: return "reads";
    case LearnedGroup::maintenance: return "maintenance";
    case LearnedGroup::session: return "session";
    case LearnedGroup::ddl_objects: return "ddl-objects";
  }
  return "";
}

const char* group_what(LearnedGroup g) {
  switch (g) {
    case LearnedGroup::ddl: return "schema changes naming tables";
    case LearnedGroup::writes: return "writes";
    case LearnedGroup::reads: return "reads";
    case LearnedGroup::maintenance: return "LOCK, VACUUM, ANALYZE and the like";
    case LearnedGroup::session:
      return "statements that touch no table (transactions, SET, SHOW, ...)";
    case LearnedGroup::ddl_objects: return "schema changes that name no table";
  }
  return "";
}

// The match field a group's tables go in.
const char* tables_field(LearnedGroup g) {
  switch (g) {
    case LearnedGroup::writes: return "writes";
    case LearnedGroup::reads: return "reads";
    case LearnedGroup::ddl:
    case LearnedGroup::maintenance: return "tables";
    default: return nullptr;
  }
}

void write_rule(Writer& w, const Pattern& p, LearnedGroup g, const LearnedTraffic& t) {
  std::string name = p.slug + "-" + group_suffix(g);
  w.rules += fmt::format("  # {}: {} of {}\n", group_what(g), counted(t.statements, "statement"),
                         counted(static_cast<int64_t>(t.by_fingerprint.size()), "kind"));
  if (!t.functions.empty()) {
    w.rules +=
        comment_line("  # functions called (not confined by this rule): " + joined(t.functions));
  }
  w.rules += fmt::format("  - name: {}\n    match:\n      principals: {}\n      databases: {}\n",
                         name, flow_list(std::vector<std::string>{p.glob}), flow_list(t.databases));
  w.rules += fmt::format("      commands: {}\n", flow_list(t.commands));
  if (const char* field = tables_field(g)) {
    w.rules += fmt::format("      {}: {}\n", field, flow_list(t.tables, table_name));
  }
  w.rules += "    action: allow\n";
  std::vector<const LearnedExample*> examples;
  for (const auto& [fingerprint, e] : t.by_fingerprint) {
    if (!e.sql.empty()) examples.push_back(&e);
  }
  std::stable_sort(
      examples.begin(), examples.end(),
      [](const LearnedExample* a, const LearnedExample* b) { return a->count > b->count; });
  if (examples.size() > kTestsPerRule) examples.resize(kTestsPerRule);
  for (const LearnedExample* e : examples) {
    w.tests.push_back({e->principal, e->database, e->sql, "allow", name});
  }
}

void write_guard(Writer& w, const Pattern& p, const std::string& suffix, const char* field,
                 const std::string& message) {
  w.rules += fmt::format(
      "  - name: {}-{}\n    match: {{ principals: {}, {}: [\"*\"] }}\n    action: deny\n"
      "    message: {}\n",
      p.slug, suffix, flow_list(std::vector<std::string>{p.glob}), field, scalar(message));
}

void write_pattern(Writer& w, const Pattern& p) {
  std::string from;
  if (p.principals.size() > 1 || p.principals[0] != p.glob) {
    from = ", from " + joined(std::set<std::string>(p.principals.begin(), p.principals.end()));
  }
  w.rules += "\n" + comment_line(fmt::format("  # {}: {} learned{}", p.glob,
                                             counted(p.traffic.statements, "statement"), from));
  const auto& groups = p.traffic.groups;
  auto write = [&](LearnedGroup g) {
    if (auto it = groups.find(g); it != groups.end()) write_rule(w, p, g, it->second);
  };
  write(LearnedGroup::ddl);
  write(LearnedGroup::writes);
  if (groups.contains(LearnedGroup::reads) || groups.contains(LearnedGroup::maintenance)) {
    write_guard(w, p, "no-other-writes", "writes",
                p.glob + " writes only the tables its learned rules name");
  }
  write(LearnedGroup::reads);
  write(LearnedGroup::maintenance);
  if (groups.contains(LearnedGroup::session) || groups.contains(LearnedGroup::ddl_objects)) {
    write_guard(w, p, "no-other-tables", "tables",
                p.glob + " touches only the tables its learned rules name");
  }
  write(LearnedGroup::session);
  write(LearnedGroup::ddl_objects);
}

// A pattern and a table it writes, for a test that the unbounded-write rule stops it.
struct WriteTarget {
  const Pattern* pattern = nullptr;
  std::string principal, database, table;
};

// The deny rule for what some patterns never did; commented out when every pattern did it.
void write_never_seen(Writer& w, const std::vector<Pattern>& all, bool (*did)(const Pattern&),
                      const std::string& what, const std::string& name, const std::string& match,
                      const std::string& message) {
  std::vector<std::string> never;
  for (const Pattern& p : all) {
    if (!did(p)) never.push_back(p.glob);
  }
  if (never.empty()) {
    w.rules += fmt::format(
        "  # Every principal pattern was learned running {}: no rule denies it.\n", what);
    return;
  }
  w.rules += fmt::format("  # Never learned{}: {}.\n  # The allow rules below would let it run.\n",
                         never.size() == all.size() ? "" : " for these principals", what);
  std::string principals =
      never.size() == all.size() ? "" : "principals: " + flow_list(never) + ", ";
  w.rules += fmt::format("  - name: {}\n    match: {{ {}{} }}\n    action: deny\n    message: {}\n",
                         name, principals, match, scalar(message));
}

// A commented-out deny rule: what default: deny refuses already, named for the reviewer.
void write_suggestion(Writer& w, const std::string& what, const std::string& name,
                      const std::string& match, const std::string& message) {
  w.rules += fmt::format(
      "  # Never learned: {}.\n  # default: deny refuses it already; uncomment to name the "
      "refusal:\n"
      "  # - name: {}\n  #   match: {{ {} }}\n  #   action: deny\n  #   message: {}\n",
      what, name, match, scalar(message));
}

bool any_class(const std::vector<Pattern>& all, const char* cls) {
  for (const Pattern& p : all) {
    if (p.traffic.classes.contains(cls)) return true;
  }
  return false;
}

bool any_command(const std::vector<Pattern>& all, const std::vector<std::string>& commands) {
  for (const Pattern& p : all) {
    for (const auto& [g, t] : p.traffic.groups) {
      for (const std::string& c : commands) {
        if (t.commands.contains(c)) return true;
      }
    }
  }
  return false;
}

void write_guards(Writer& w, const std::vector<Pattern>& all) {
  write_never_seen(
      w, all, [](const Pattern& p) { return p.traffic.unbounded_write; },
      "an UPDATE or DELETE without WHERE", kUnboundedRule,
      "commands: [delete, update], where: absent",
      "UPDATE/DELETE without WHERE was never seen from this principal");
  write_never_seen(
      w, all, [](const Pattern& p) { return !p.traffic.file_functions.empty(); },
      "a file or network function", kFileRule,
      "functions: " + flow_list(file_and_network_functions()),
      "file and network functions were never seen from this principal");
  if (!any_class(all, "ddl")) {
    write_suggestion(w, "a schema change (DDL)", "no-ddl", "classes: [ddl]",
                     "schema changes go through a DBA");
  } else if (!any_command(all, kDestructiveDdl)) {
    write_suggestion(w, "DROP TABLE, DROP SCHEMA, TRUNCATE or ALTER TABLE ... DROP COLUMN",
                     "no-destructive-ddl", "commands: " + flow_list(kDestructiveDdl),
                     "destructive schema changes go through a DBA");
  }
  if (!any_class(all, "role")) {
    write_suggestion(w, "a role or privilege change", "no-role-changes", "classes: [role]",
                     "role and privilege changes go through a DBA");
  }
}

// Test cases for the two deny rules, with a principal they apply to.
void add_guard_tests(Writer& w, const std::vector<Pattern>& all) {
  for (const Pattern& p : all) {
    if (p.traffic.unbounded_write) continue;
    auto writes = p.traffic.groups.find(LearnedGroup::writes);
    if (writes == p.traffic.groups.end() || writes->second.tables.empty()) continue;
    w.tests.push_back({p.principals[0], *writes->second.databases.begin(),
                       "DELETE FROM " + table_name(*writes->second.tables.begin()), "deny",
                       kUnboundedRule});
    break;
  }
  for (const Pattern& p : all) {
    if (!p.traffic.file_functions.empty()) continue;
    w.tests.push_back(
        {p.principals[0], "", "SELECT pg_read_file('/etc/passwd')", "deny", kFileRule});
    break;
  }
}

std::string header(const Learning& l, const LearnSource& s) {
  std::string out =
      comment_line("# Rules proposed by `pgwarden learn` from the audit store " + s.store);
  std::vector<std::string> filters;
  if (!s.principal_glob.empty()) filters.push_back("--principal " + s.principal_glob);
  if (!s.since.empty()) filters.push_back("--since " + s.since);
  if (!s.until.empty()) filters.push_back("--until " + s.until);
  std::string filter;
  for (const std::string& f : filters) filter += (filter.empty() ? "" : " ") + f;
  if (!filter.empty()) out += comment_line("# (" + filter + ")");
  if (!s.period.empty()) out += comment_line("# Records " + s.period + ".");
  out += fmt::format("# {} read: {} learned as allowed, {} not learned.\n",
                     counted(l.records, "record"), l.learned, l.records - l.learned);
  for (const auto& [why, count] : l.not_learned) {
    out += comment_line(fmt::format("#   not learned, {}: {}", why, count));
  }
  out += R"(#
# Review every rule before use. How they were learned:
# - Principals: "repository@ref" principals (CI identities) seen with several refs are grouped
#   as "repository@*"; any other principal is kept as it is.
# - Learned: statements that ran as allowed (allow, log) and, in mode: monitor, those only the
#   default would have denied (would_deny without a rule). Not learned: what a rule denied or held
#   (deny, would_deny or would_hold by a rule, rejected, expired, withdrawn, and approved, since
#   one approval is not a standing permission), and statements that never ran (25P02).
#   Statements that failed on the server are learned: the workload sent them and expects the
#   server's answer (a tool looking for a table it has not created yet), not a refusal.
# - Tables are those the audit recorded, resolved against the session's search_path.
# - A rule allows a statement that touches at least one of its tables, so each pattern's rules
#   are ordered to deny first what writes, or touches, a table none of its rules name. Functions
#   are listed in comments, not matched; file and network functions are denied.
mode: enforce
default: deny
on_parse_error: deny
)";
  return out;
}

void write_tests(std::string& out, const std::vector<TestLine>& tests) {
  if (tests.empty()) return;
  out += "tests:\n";
  for (const TestLine& t : tests) {
    out += fmt::format("  - {{ principal: {}, ", scalar(t.principal));
    if (!t.database.empty()) out += fmt::format("database: {}, ", scalar(t.database));
    out += fmt::format("sql: {}, expect: {}, rule: {} }}\n", scalar(t.sql), t.expect, t.rule);
  }
}

}  // namespace

std::string proposed_rules(const Learning& l, const LearnSource& s) {
  std::string out = header(l, s);
  std::vector<Pattern> all = patterns(l);
  if (all.empty()) return out + "rules: []\n";
  Writer w;
  write_guards(w, all);
  for (const Pattern& p : all) write_pattern(w, p);
  add_guard_tests(w, all);
  out += "rules:\n" + w.rules;
  write_tests(out, w.tests);
  return out;
}

}  // namespace pgw::rules
