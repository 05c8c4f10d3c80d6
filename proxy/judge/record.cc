#include "proxy/judge/record.h"

#include "proxy/wire/encoding.h"

namespace pgw {
namespace {

int64_t approval_timeout_us(const AuditedSession& session, const Judged& j) {
  auto timeout = j.decision.timeout.value_or(session.approval_timeout);
  return std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
}

}  // namespace

const std::string& audited_statement(const Judged& j, bool normalized_text) {
  return normalized_text && !j.facts.normalized.empty() ? j.facts.normalized : j.text;
}

store::AuditRecord make_record(const AuditedSession& session, const Judged& j, const char* protocol,
                               std::string parameters, int64_t now_us) {
  store::AuditRecord r;
  r.ts_us = now_us;
  r.session = session.record;
  r.protocol = protocol;
  r.command = j.facts.command;
  r.classes = join(j.facts.classes, ";");
  r.tables_read = join(j.facts.tables_read, ";");
  r.tables_written = join(j.facts.tables_written, ";");
  r.fingerprint = j.facts.fingerprint;
  r.statement = audited_statement(j, session.normalized_text);
  if (!session.normalized_text) r.parameters = std::move(parameters);
  r.decision = j.approved_by.empty() ? j.decision.audit_name() : "approved";
  r.approver = j.approved_by;
  r.rule = j.decision.rule;
  if (held(j.decision)) {
    r.expires_us = r.ts_us + approval_timeout_us(session, j);
    for (const rules::Glob& g : j.decision.approvers) r.hold_approvers += (r.hold_approvers.empty() ? "" : ";") + g.text;
    r.approvals_required = std::max(1, j.decision.approvals_required);
  }
  return r;
}

}  // namespace pgw
