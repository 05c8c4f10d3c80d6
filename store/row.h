// Moving sessions, records, outcomes and anchors in and out of their tables: the one place that knows which
// field goes in which column, shared by the writer, verify and export.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "store/audit.h"
#include "store/cursor.h"
#include "store/schema.h"
#include "store/sqlite_util.h"

namespace pgw::store {

// The fields of a session (const or not) in CSV column order.
template <typename Session>
auto session_text_fields(Session& s) {
  return std::array{&s.principal,   &s.attribution, &s.job_id,       &s.commit,
                    &s.session_id,  &s.client_addr, &s.database,     &s.upstream_role,
                    &s.application_name};
}

// The text fields of a record's own (const or not) in CSV column order, all but ts_us. The
// statement, stored as bytes, is the one numbered kRecordStatementField.
inline constexpr int kRecordStatementField = 6;
template <typename Record>
auto record_text_fields(Record& r) {
  return std::array{&r.protocol,    &r.command,   &r.classes,  &r.tables_read,
                    &r.tables_written, &r.fingerprint, &r.statement, &r.parameters,
                    &r.decision,    &r.rule,      &r.approver};
}

// INSERT statements for the three kinds of row, to prepare once and bind per row. An outcome for
// a seq that has one already is not inserted (sqlite3_changes() tells).
extern const char* const kInsertSessionSql;
extern const char* const kInsertRecordSql;
extern const char* const kInsertOutcomeSql;

// Binds a row's values to a prepared kInsertSessionSql (kInsertRecordSql, kInsertOutcomeSql). The
// statement refers to the strings given until it is reset. SQLITE_OK or SQLite's error code.
int bind_session(sqlite3_stmt* insert, const SessionRecord& session, const std::string& instance);
int bind_record(sqlite3_stmt* insert, int64_t seq, int64_t session_row, const AuditRecord& record,
                const std::string& hash);
int bind_outcome(sqlite3_stmt* insert, int64_t prev, const Outcome& outcome,
                 const std::string& hash);

// A record as read back, with its session's fields.
struct StoredRecord {
  int64_t seq = 0;
  std::string hash;
  std::string instance;
  SessionRecord session;
  AuditRecord record;  // its `session` is not set
};

// A statement selecting kStoredRecordColumns from the records `r` joined with their sessions `s`
// yields rows read_record() reads, from either database.
extern const char* const kStoredRecordColumns;
void read_record(const Columns& select, StoredRecord* row);

// An outcome as read back: the outcome (its `seq` is the record's), the seq of the outcome
// written before it (0 for the first), and its hash.
struct StoredOutcome {
  int64_t prev = 0;
  std::string hash;
  Outcome outcome;
};
extern const char* const kStoredOutcomeColumns;  // of audit_outcome `o`
void read_outcome(const Columns& select, StoredOutcome* row);

// An anchor's columns of audit_anchor, in the order read_anchor() reads them (a PostgreSQL store
// adds the instance, which the caller sets).
extern const char* const kAnchorColumns;
void read_anchor(const Columns& select, Anchor* anchor);

}  // namespace pgw::store
