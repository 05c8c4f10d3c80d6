// Statements as the session sees them: what each client request would run, the decision of the
// rules on it, and the audit record that must be committed before it is forwarded. The session
// keeps the prepared statements and portals of the extended protocol (and SQL PREPAREs) so that an
// Execute or `EXECUTE p` is judged and recorded by what was prepared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rules/rules.h"
#include "sqlparse/facts.h"
#include "store/audit.h"

namespace pgw {

struct Session;

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

// A portal made by Bind: the statement it runs (nullptr when pgwarden does not know it), with
// which parameter values (as the audit shows them).
struct Portal {
  std::shared_ptr<const Prepared> statement;
  std::string parameters;  // JSON array of strings
};

// Whether a decision stops the statement here (deny or hold in enforce mode).
bool refused(const rules::Decision& d);
// Whether it waits for approval (hold in enforce mode).
bool held(const rules::Decision& d);

// Parses and judges the text of a Query or Parse in the session's context.
std::vector<Judged> judge_text(Session* s, std::string_view text);
// Why a statement is refused, as the client's ErrorResponse will say it.
struct Refusal {
  std::string sqlstate;
  std::string message;
};
Refusal refusal_of(const Judged& j);
// The arguments of a FunctionCall message body as the audit's JSON array (as for Bind), and the
// OID of the function it calls.
std::string function_call_arguments(std::string_view body, const rules::SessionMasks* masks, uint32_t* oid);
// `name` as a quoted SQL identifier.
std::string quote_ident(std::string_view name);
// `s` as an escape-string literal, whatever standard_conforming_strings says: for the SQL text
// pgwarden itself sends upstream.
std::string sql_literal(std::string_view s);
// Microseconds since the Unix epoch: the time of audit records and approval deadlines.
int64_t wall_us();
// The audit record of one statement of this session.
store::AuditRecord make_record(Session* s, const Judged& j, const char* protocol, std::string parameters);
// The Bind values of a Bind message body as a JSON array of strings (binary as \x hex), with the
// session's value masks (`masks`, nullptr for none) applied: the audit never holds what a mask
// hides in results (SPEC section 9).
std::string bind_parameters_json(std::string_view bind_body, const rules::SessionMasks* masks, std::string* portal,
                                 std::string* statement);
// Applies what a statement changes in the session's view: search_path, SQL PREPARE/DEALLOCATE.
void note_effects(Session* s, const Judged& j);

}  // namespace pgw
