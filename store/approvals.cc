// list_approvals: the held statements of the store with how each was settled.
#include "store/audit.h"
#include "store/schema.h"

namespace pgw::store {
namespace {

// Each hold record with its outcome, if any.
constexpr const char* kSelect = R"sql(
SELECT r.seq, coalesce(o.decision, ''), s.principal, s.job_id, r.rule, r.statement, r.ts_us,
  r.expires_us, coalesce(o.approver, '')
FROM audit_statement r
LEFT JOIN audit_session s ON s.id = r.session
LEFT JOIN audit_outcome o ON o.seq = r.seq
WHERE r.decision = 'hold'
ORDER BY r.seq)sql";

ApprovalRow read_approval(sqlite3_stmt* stmt, int64_t now_us) {
  ApprovalRow a;
  a.id = sqlite3_column_int64(stmt, 0);
  a.state = column_string(stmt, 1);
  a.principal = column_string(stmt, 2);
  a.job_id = column_string(stmt, 3);
  a.rule = column_string(stmt, 4);
  a.statement = column_string(stmt, 5);
  a.requested_us = sqlite3_column_int64(stmt, 6);
  a.expires_us = sqlite3_column_int64(stmt, 7);
  a.approvers = column_string(stmt, 8);
  if (a.state.empty()) a.state = now_us >= a.expires_us ? "expired" : "pending";
  return a;
}

}  // namespace

bool list_approvals(const std::string& path, bool pending_only, int64_t now_us,
                    std::vector<ApprovalRow>* out, std::string* error) {
  Db db = open_db(path, false, error);
  if (!db || !check_schema(db.get(), path, error)) return false;
  Stmt stmt = prepare(db.get(), kSelect, path, error);
  if (!stmt) return false;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    ApprovalRow a = read_approval(stmt.get(), now_us);
    if (!pending_only || a.state == "pending") out->push_back(std::move(a));
  }
  if (rc == SQLITE_DONE) return true;
  *error = db_error(db.get(), path, "cannot read the approval requests");
  return false;
}

}  // namespace pgw::store
