#include "rules/match.h"

#include <algorithm>

namespace pgw::rules {

namespace {

unsigned class_bits(const sql::StatementFacts* facts) {
  unsigned bits = 0;
  if (facts == nullptr) return 0;
  for (const std::string& c : facts->classes) bits |= class_bit(c);
  return bits;
}

bool any_name(const std::vector<Glob>& globs, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (any_glob_match(globs, name)) return true;
  }
  return false;
}

bool any_qualified(const std::vector<QualifiedGlob>& globs, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (any_qualified_match(globs, name)) return true;
  }
  return false;
}

// Whether a LOCK statement's mode is one of `modes`; never for other statements (mode "").
bool has_lock_mode(const std::vector<std::string>& modes, const std::string& mode) {
  return !mode.empty() && std::find(modes.begin(), modes.end(), mode) != modes.end();
}

bool address_matches(const std::vector<Cidr>& cidrs, const Subject& subject) {
  if (!subject.address_parsed) {
    subject.address = parse_address(subject.context.client_addr);
    subject.address_parsed = true;
  }
  if (!subject.address) return false;
  for (const Cidr& c : cidrs) {
    if (cidr_contains(c, *subject.address)) return true;
  }
  return false;
}

}  // namespace

Subject::Subject(const Context& context_in, const sql::StatementFacts* facts_in,
                 std::string_view sql_in)
    : context(context_in), facts(facts_in), sql(sql_in), classes(class_bits(facts_in)) {}

bool session_matches(const SessionMatch& m, const Subject& s) {
  const Context& c = s.context;
  auto given = [&](OpenField f, bool field_used) { return field_used && !(s.open_fields & f); };
  if (given(kOpenPrincipal, !m.principals.empty()) && !any_glob_match(m.principals, c.principal)) {
    return false;
  }
  if (given(kOpenJob, !m.jobs.empty()) && !any_glob_match(m.jobs, c.job_id)) return false;
  if (given(kOpenDatabase, !m.databases.empty()) && !any_glob_match(m.databases, c.database)) {
    return false;
  }
  if (given(kOpenClientAddr, !m.client_addrs.empty()) && !address_matches(m.client_addrs, s)) {
    return false;
  }
  return true;
}

bool statement_matches(const StatementMatch& m, const Subject& s) {
  const sql::StatementFacts& f = *s.facts;
  if (!m.commands.empty() && !any_name(m.commands, f.commands)) return false;
  if (m.classes != 0 && (m.classes & s.classes) == 0) return false;
  if (m.where_absent && !f.where_absent) return false;
  if (!m.tables.empty() && !any_qualified(m.tables, f.tables_read) &&
      !any_qualified(m.tables, f.tables_written) && !any_qualified(m.tables, f.tables_named)) {
    return false;
  }
  if (!m.reads.empty() && !any_qualified(m.reads, f.tables_read)) return false;
  if (!m.writes.empty() && !any_qualified(m.writes, f.tables_written)) return false;
  if (!m.columns.empty() && !any_qualified(m.columns, f.columns)) return false;
  if (!m.functions.empty() && !any_name(m.functions, f.functions)) return false;
  if (!m.lock_modes.empty() && !has_lock_mode(m.lock_modes, f.lock_mode)) return false;
  if (m.sql && !RE2::PartialMatch(s.sql, *m.sql)) return false;
  return true;
}

}  // namespace pgw::rules
