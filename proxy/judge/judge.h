// Judging: the statements a client's request would run, each with the decision of the rules on
// it. Pure: judging takes what it needs from the session as plain values (a JudgeContext) and
// gives back what the session must remember (note_effects), so it runs and is tested without a
// connection. An `EXECUTE p` is judged as what p was prepared as, and an unqualified table name
// resolves through the search_path the session's own statements set.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rules/rules.h"
#include "sqlparse/facts.h"

namespace pgw {

struct ParseCache;  // proxy/judge/parse_cache.h

// One statement with its facts and the decision on it.
struct Judged {
  sql::StatementFacts facts;
  std::string text;  // the statement's own text
  rules::Decision decision;
  bool parse_failed = false;
  // Set once a held statement was approved: who approved it (';'-joined).
  std::string approved_by;
};

// A statement prepared by Parse or by SQL PREPARE.
struct Prepared {
  std::vector<Judged> statements;  // normally one
};

// What the session's own SQL set that later statements are judged in: the search_path that
// unqualified table names resolve through (empty: the server default, which sql::parse resolves
// to public) and the statements PREPAREd in SQL, by name.
struct SqlScope {
  std::vector<std::string> search_path;
  std::unordered_map<std::string, Prepared> prepared;
};

// Everything a statement is judged by besides its text.
struct JudgeContext {
  rules::RuleSetPtr rules;  // the rules in force
  rules::Context who;       // principal, job, database, client address
  const SqlScope& scope;
  // The audit records normalized text (audit.statement_text: normalized): computed with the parse.
  bool normalize = false;
  ParseCache* cache = nullptr;  // this thread's recently parsed texts; nullptr parses afresh
};

// Whether a decision stops the statement here (deny or hold in enforce mode).
bool refused(const rules::Decision& d);
// Whether it waits for approval (hold in enforce mode).
bool held(const rules::Decision& d);

// Parses and judges the text of a Query or Parse: one Judged per statement, or a single one with
// parse_failed (decided by on_parse_error) when the text does not parse. A search_path set by a
// statement of the text applies to the statements after it.
std::vector<Judged> judge_text(const JudgeContext& ctx, std::string_view text);

// Why a statement is refused, as the client's ErrorResponse will say it.
struct Refusal {
  std::string sqlstate;
  std::string message;
};
Refusal refusal_of(const Judged& j);

// Applies what a statement that runs changes in the scope later statements are judged in:
// SET/RESET search_path, SQL PREPARE and DEALLOCATE.
void note_effects(SqlScope& scope, const Judged& j);

}  // namespace pgw
