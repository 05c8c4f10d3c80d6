#include "store/row.h"

namespace pgw::store {
namespace {

constexpr int kStatementField = 6;  // index of `statement` in record_text_fields(): a BLOB

}  // namespace

const char* const kInsertSessionSql =
    "INSERT INTO audit_session (principal, attribution, job_id, commit_ref, session_id, "
    "client_addr, database_name, upstream_role, application_name, instance) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

const char* const kInsertRecordSql =
    "INSERT INTO audit_statement (seq, session, ts_us, protocol, command, classes, tables_read, "
    "tables_written, fingerprint, statement, parameters, decision, rule, approver, expires_us, "
    "hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

const char* const kInsertOutcomeSql =
    "INSERT INTO audit_outcome (seq, prev, row_count, sqlstate, error, duration_ms, "
    "masked_values, decision, approver, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
    "ON CONFLICT (seq) DO NOTHING";

const char* const kStoredRecordColumns =
    "r.seq, r.hash, s.instance, s.principal, s.attribution, s.job_id, s.commit_ref, "
    "s.session_id, s.client_addr, s.database_name, s.upstream_role, s.application_name, r.ts_us, "
    "r.protocol, r.command, r.classes, r.tables_read, r.tables_written, r.fingerprint, "
    "r.statement, r.parameters, r.decision, r.rule, r.approver, r.expires_us";

const char* const kStoredRecordFrom =
    "audit_statement r LEFT JOIN audit_session s ON s.id = r.session";

const char* const kStoredOutcomeColumns =
    "seq, prev, hash, row_count, sqlstate, error, duration_ms, masked_values, decision, approver";

int bind_session(sqlite3_stmt* insert, const SessionRecord& session, const std::string& instance) {
  auto texts = session_text_fields(session);
  int rc = SQLITE_OK;
  for (int i = 0; rc == SQLITE_OK && i < static_cast<int>(texts.size()); ++i) {
    rc = bind_string(insert, 1 + i, *texts[i]);
  }
  if (rc == SQLITE_OK) rc = bind_string(insert, 10, instance);
  return rc;
}

int bind_record(sqlite3_stmt* insert, int64_t seq, int64_t session_row, const AuditRecord& record,
                const std::string& hash) {
  int rc = sqlite3_bind_int64(insert, 1, seq);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(insert, 2, session_row);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(insert, 3, record.ts_us);
  auto texts = record_text_fields(record);
  for (int i = 0; rc == SQLITE_OK && i < static_cast<int>(texts.size()); ++i) {
    rc = bind_string(insert, 4 + i, *texts[i], i == kStatementField);
  }
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(insert, 15, record.expires_us);
  if (rc == SQLITE_OK) rc = bind_string(insert, 16, hash, true);
  return rc;
}

int bind_outcome(sqlite3_stmt* insert, int64_t prev, const Outcome& o, const std::string& hash) {
  int rc = sqlite3_bind_int64(insert, 1, o.seq);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(insert, 2, prev);
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

void read_record(sqlite3_stmt* select, StoredRecord* row) {
  row->seq = sqlite3_column_int64(select, 0);
  row->hash = column_string(select, 1);
  row->instance = column_string(select, 2);
  auto session = session_text_fields(row->session);
  for (int i = 0; i < static_cast<int>(session.size()); ++i) {
    *session[i] = column_string(select, 3 + i);
  }
  row->record.ts_us = sqlite3_column_int64(select, 12);
  auto texts = record_text_fields(row->record);
  for (int i = 0; i < static_cast<int>(texts.size()); ++i) {
    *texts[i] = column_string(select, 13 + i);
  }
  row->record.expires_us = sqlite3_column_int64(select, 24);
}

void read_outcome(sqlite3_stmt* select, StoredOutcome* row) {
  Outcome& o = row->outcome;
  o.seq = sqlite3_column_int64(select, 0);
  row->prev = sqlite3_column_int64(select, 1);
  row->hash = column_string(select, 2);
  o.rows.reset();
  if (sqlite3_column_type(select, 3) != SQLITE_NULL) o.rows = sqlite3_column_int64(select, 3);
  o.sqlstate = column_string(select, 4);
  o.error = column_string(select, 5);
  o.duration_ms = sqlite3_column_double(select, 6);
  o.masked_values = sqlite3_column_int64(select, 7);
  o.decision = column_string(select, 8);
  o.approver = column_string(select, 9);
}

}  // namespace pgw::store
