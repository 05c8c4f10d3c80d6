// The audit record of a judged statement: the row that must be committed before the statement
// is forwarded (SPEC section 8). Built from plain values, the session as the audit names it and
// the time, so that the row's every field can be checked without a session or a clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "proxy/judge/judge.h"
#include "store/audit.h"

namespace pgw {

// A session as its audit records name it, the same in each of them (who runs the statements,
// from where, as whom upstream), and how the audit records statements.
struct AuditedSession {
  store::SessionRef record;
  // audit.statement_text: normalized records the normalized text and no parameters.
  bool normalized_text = false;
  // approvals.default_timeout: how long a held statement waits when its rule sets no timeout.
  std::chrono::milliseconds approval_timeout{0};
};

// The statement's text as its audit record has it: with audit.statement_text normalized, literals
// replaced by $n; else as the client sent it.
const std::string& audited_statement(const Judged& j, bool normalized_text);

// The audit record of statement `j` of `session`, sent by `protocol` ("simple", "extended",
// "function_call") with `parameters` (a JSON array, parameters.h), judged at `now_us`
// (microseconds since the Unix epoch).
store::AuditRecord make_record(const AuditedSession& session, const Judged& j, const char* protocol,
                               std::string parameters, int64_t now_us);

}  // namespace pgw
