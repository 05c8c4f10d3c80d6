// Statements as the audit recorded them, read back by the commands that learn from the audit
// (`pgwarden learn`, `pgwarden coverage`: SPEC section 13). The store turns its rows into these;
// rules/ parses their text again for the facts the audit does not keep (kinds, functions, a
// missing WHERE) and never reads a store itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rules/rules.h"
#include "sqlparse/facts.h"

namespace pgw::rules {

// One recorded statement: who sent it, its text, what was decided and how it ended.
struct ObservedStatement {
  int64_t ts_us = 0;
  std::string principal;
  std::string job_id;
  std::string database;
  std::string client_addr;
  std::string statement;  // as recorded: the full text, or with statement_text: normalized, $n
  std::string fingerprint;
  // As recorded: unqualified names resolved against the search_path the session had set, which
  // the text alone does not tell.
  std::vector<std::string> tables_read;
  std::vector<std::string> tables_written;
  std::string decision;  // the audit's decision (after approval, if any)
  std::string rule;      // the rule that decided; empty for the default or a parse error
  std::string sqlstate;  // the server's (or pgwarden's) error, empty if it succeeded
};

// The context a recorded statement was judged in.
Context observed_context(const ObservedStatement& observed);

// Parsed facts of recorded statements, kept per fingerprint and recorded tables (statements that
// differ only in their literals have the same facts), so that a large audit is parsed once per
// kind of statement.
struct FactsCache {
  std::unordered_map<std::string, std::optional<sql::StatementFacts>> by_shape;
};

// The facts of a recorded statement: its text parsed again, with the tables read and written
// replaced by the recorded ones (the session's search_path resolved them). nullptr when the
// text is not exactly one statement that parses.
const sql::StatementFacts* observed_facts(FactsCache* cache, const ObservedStatement& observed);

// Whether `tests:` (which parse with search_path public) see the same tables in the text as the
// session did: a statement that passes can stand as a test case for the rule it fits.
bool testable(const ObservedStatement& observed);

}  // namespace pgw::rules
