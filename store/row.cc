#include "store/row.h"

namespace pgw::store {

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

const char* const kStoredOutcomeColumns =
    "o.seq, o.prev, o.hash, o.row_count, o.sqlstate, o.error, o.duration_ms, o.masked_values, "
    "o.decision, o.approver";

const char* const kAnchorColumns =
    "number, first_seq, last_seq, before_us, pruned_us, records, outcomes, record_hash, "
    "outcome_seq, outcome_hash, hash";

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
    rc = bind_string(insert, 4 + i, *texts[i], i == kRecordStatementField);
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

void read_record(const Columns& select, StoredRecord* row) {
  row->seq = select.integer(0);
  row->hash = select.text(1);
  row->instance = select.text(2);
  auto session = session_text_fields(row->session);
  for (int i = 0; i < static_cast<int>(session.size()); ++i) {
    *session[i] = select.text(3 + i);
  }
  row->record.ts_us = select.integer(12);
  auto texts = record_text_fields(row->record);
  for (int i = 0; i < static_cast<int>(texts.size()); ++i) {
    *texts[i] = select.text(13 + i);
  }
  row->record.expires_us = select.integer(24);
}

void read_outcome(const Columns& select, StoredOutcome* row) {
  Outcome& o = row->outcome;
  o.seq = select.integer(0);
  row->prev = select.integer(1);
  row->hash = select.text(2);
  o.rows.reset();
  if (!select.null(3)) o.rows = select.integer(3);
  o.sqlstate = select.text(4);
  o.error = select.text(5);
  o.duration_ms = select.real(6);
  o.masked_values = select.integer(7);
  o.decision = select.text(8);
  o.approver = select.text(9);
}

void read_anchor(const Columns& select, Anchor* a) {
  a->number = select.integer(0);
  a->first_seq = select.integer(1);
  a->last_seq = select.integer(2);
  a->before_us = select.integer(3);
  a->pruned_us = select.integer(4);
  a->records = select.integer(5);
  a->outcomes = select.integer(6);
  a->record_hash = select.text(7);
  a->outcome_seq = select.integer(8);
  a->outcome_hash = select.text(9);
  a->hash = select.text(10);
}

}  // namespace pgw::store
