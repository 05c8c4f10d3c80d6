#include "store/row.h"

#include <array>

namespace pgw::store {
namespace {

constexpr int kStatementField = 15;  // index of `statement` in record_text_fields(): a BLOB

}  // namespace

const char* const kInsertRecordSql =
    "INSERT INTO audit_log (seq, kind, ts_us, principal, attribution, job_id, commit_ref, "
    "session_id, client_addr, database_name, upstream_role, application_name, protocol, command, "
    "classes, tables_read, tables_written, fingerprint, statement, parameters, decision, rule, "
    "approver, hash, expires_us) VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
    "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)";

const char* const kInsertOutcomeSql =
    "INSERT INTO audit_log (seq, kind, ref_seq, row_count, sqlstate, error, duration_ms, "
    "masked_values, decision, approver, hash) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

const char* const kStoredRowColumns =
    "seq, kind, hash, ts_us, principal, attribution, job_id, commit_ref, session_id, client_addr, "
    "database_name, upstream_role, application_name, protocol, command, classes, tables_read, "
    "tables_written, fingerprint, statement, parameters, decision, rule, approver, ref_seq, "
    "row_count, sqlstate, error, duration_ms, masked_values, expires_us";

int bind_record(sqlite3_stmt* insert, int64_t seq, const AuditRecord& record,
                const std::string& hash) {
  int rc = sqlite3_bind_int64(insert, 1, seq);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(insert, 2, record.ts_us);
  auto texts = record_text_fields(record);
  for (int i = 0; rc == SQLITE_OK && i < static_cast<int>(texts.size()); ++i) {
    rc = bind_string(insert, 3 + i, *texts[i], i == kStatementField);
  }
  if (rc == SQLITE_OK) rc = bind_string(insert, 23, hash, true);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(insert, 24, record.expires_us);
  return rc;
}

int bind_outcome(sqlite3_stmt* insert, int64_t seq, const Outcome& o, const std::string& hash) {
  int rc = sqlite3_bind_int64(insert, 1, seq);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(insert, 2, o.seq);
  if (rc == SQLITE_OK) {
    rc = o.rows ? sqlite3_bind_int64(insert, 3, *o.rows) : sqlite3_bind_null(insert, 3);
  }
  if (rc == SQLITE_OK) rc = bind_string(insert, 4, o.sqlstate);
  if (rc == SQLITE_OK) rc = bind_string(insert, 5, o.error);
  if (rc == SQLITE_OK) rc = sqlite3_bind_double(insert, 6, o.duration_ms);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(insert, 7, o.masked_values);
  if (rc == SQLITE_OK) rc = bind_string(insert, 8, o.decision);
  if (rc == SQLITE_OK) rc = bind_string(insert, 9, o.approver);
  if (rc == SQLITE_OK) rc = bind_string(insert, 10, hash, true);
  return rc;
}

void read_row(sqlite3_stmt* select, StoredRow* row) {
  row->seq = sqlite3_column_int64(select, 0);
  row->kind = static_cast<RowKind>(sqlite3_column_int(select, 1));
  row->hash = column_string(select, 2);
  if (row->kind == RowKind::outcome) {
    Outcome& o = row->outcome;
    o.seq = sqlite3_column_int64(select, 24);
    o.rows.reset();
    if (sqlite3_column_type(select, 25) != SQLITE_NULL) o.rows = sqlite3_column_int64(select, 25);
    o.sqlstate = column_string(select, 26);
    o.error = column_string(select, 27);
    o.duration_ms = sqlite3_column_double(select, 28);
    o.masked_values = sqlite3_column_int64(select, 29);
    o.decision = column_string(select, 21);
    o.approver = column_string(select, 23);
    return;
  }
  row->record.ts_us = sqlite3_column_int64(select, 3);
  row->record.expires_us = sqlite3_column_int64(select, 30);
  auto texts = record_text_fields(row->record);
  for (int i = 0; i < static_cast<int>(texts.size()); ++i) {
    *texts[i] = column_string(select, 4 + i);
  }
}

}  // namespace pgw::store
