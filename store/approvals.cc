// list_approvals: the held statements of the store with how each was settled. One reading of the
// rows serves both backends: a SQLite store's query gives the columns it does not keep as
// constants.
#include "store/approval_reader.h"
#include "store/audit.h"
#include "store/cursor.h"
#include "store/pg_cursor.h"
#include "store/schema.h"

namespace pgw::store {
namespace {

// Each hold record with its outcome, if any; then the instance and seq of the record, the rule's
// approver globs and approvals required, whether the request was withdrawn by a vote, and the
// principals of its approving votes (the last four empty, 1, 0, empty in a SQLite store).
constexpr const char* kSqliteSelect = R"sql(
SELECT r.seq, coalesce(o.decision, ''), s.principal, s.job_id, r.rule, r.statement, r.ts_us,
  r.expires_us, coalesce(o.approver, ''), s.instance, r.seq, '', 1, 0, ''
FROM audit_statement r
LEFT JOIN audit_session s ON s.id = r.session
LEFT JOIN audit_outcome o ON o.seq = r.seq
WHERE r.decision = 'hold'
ORDER BY r.seq)sql";

// The same from the approval table of a PostgreSQL store: one row per approval id; all of them
// for $1 = 0, else the one numbered $1. A request whose record was pruned is gone with it.
constexpr const char* kPgSelect = R"sql(
SELECT a.id, coalesce(o.decision, ''), s.principal, s.job_id, r.rule, r.statement, r.ts_us,
  r.expires_us, coalesce(o.approver, ''), a.instance, a.seq, a.approvers, a.required,
  (SELECT count(*) FROM approval_vote v WHERE v.approval = a.id AND v.verdict = 'withdraw'),
  coalesce((SELECT string_agg(principal, ';' ORDER BY first)
            FROM (SELECT v.principal, min(v.id) AS first FROM approval_vote v
                  WHERE v.approval = a.id AND v.verdict = 'approve'
                  GROUP BY v.principal) approving), '')
FROM approval a
JOIN audit_statement r ON r.instance = a.instance AND r.seq = a.seq
LEFT JOIN audit_session s ON s.instance = r.instance AND s.id = r.session
LEFT JOIN audit_outcome o ON o.instance = a.instance AND o.seq = a.seq
WHERE $1::bigint = 0 OR a.id = $1::bigint
ORDER BY a.id)sql";

ApprovalRow read_approval(const Columns& row, int64_t now_us) {
  ApprovalRow a;
  a.id = row.integer(0);
  a.state = row.text(1);
  a.principal = row.text(2);
  a.job_id = row.text(3);
  a.rule = row.text(4);
  a.statement = row.text(5);
  a.requested_us = row.integer(6);
  a.expires_us = row.integer(7);
  a.approvers = row.text(8);
  a.instance = row.text(9);
  a.seq = row.integer(10);
  a.approver_globs = row.text(11);
  a.required = row.integer(12);
  if (a.state.empty() && row.integer(13) > 0) a.state = "withdrawn";
  if (a.state.empty()) a.state = now_us >= a.expires_us ? "expired" : "pending";
  if (a.approvers.empty()) a.approvers = row.text(14);
  return a;
}

bool read_approvals(RowCursor& rows, bool pending_only, int64_t now_us,
                    std::vector<ApprovalRow>* out, std::string* error) {
  while (const Columns* row = rows.next(error)) {
    ApprovalRow a = read_approval(*row, now_us);
    if (!pending_only || a.state == "pending") out->push_back(std::move(a));
  }
  return error->empty();
}

}  // namespace

bool read_pg_approvals(PGconn* conn, const std::string& what, int64_t id, bool pending_only,
                       int64_t now_us, std::vector<ApprovalRow>* out, std::string* error) {
  PgCursor rows(conn, kPgSelect, {std::to_string(id)}, what);
  return read_approvals(rows, pending_only, now_us, out, error);
}

bool list_approvals(const StoreLocation& store, bool pending_only, int64_t now_us,
                    std::vector<ApprovalRow>* out, std::string* error) {
  if (store.backend == Backend::postgresql) {
    const PgLocation where{store.dsn, store.schema};
    PgConn conn = open_pg_reader(where, error);
    return conn && read_pg_approvals(conn.get(), where.describe(), 0, pending_only, now_us, out, error);
  }
  Db db = open_db(store.path, false, error);
  if (!db || !check_schema(db.get(), store.path, error)) return false;
  Stmt stmt = prepare(db.get(), kSqliteSelect, store.path, error);
  if (!stmt) return false;
  SqliteCursor rows(db.get(), std::move(stmt), store.path, "the approval requests");
  return read_approvals(rows, pending_only, now_us, out, error);
}

}  // namespace pgw::store
