// Moving AuditRecord and Outcome in and out of audit_log rows: the one place that knows which
// field goes in which column, shared by the writer, verify and export.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "store/audit.h"
#include "store/schema.h"
#include "store/sqlite_util.h"

namespace pgw::store {

// The text fields of a record (const or not) in column order, all but ts_us. The statement is
// the 16th (index 15).
template <typename Record>
auto record_text_fields(Record& r) {
  return std::array{&r.principal,      &r.attribution, &r.job_id,     &r.commit,
                    &r.session_id,     &r.client_addr, &r.database,   &r.upstream_role,
                    &r.application_name, &r.protocol,  &r.command,    &r.classes,
                    &r.tables_read,    &r.tables_written, &r.fingerprint, &r.statement,
                    &r.parameters,     &r.decision,    &r.rule,       &r.approver};
}

// INSERT statements for the two kinds of row, to prepare once and bind per row.
extern const char* const kInsertRecordSql;
extern const char* const kInsertOutcomeSql;

// Binds a row's values to a prepared kInsertRecordSql (kInsertOutcomeSql). The statement refers
// to the strings of `record` and `hash` until it is reset. SQLITE_OK or SQLite's error code.
int bind_record(sqlite3_stmt* insert, int64_t seq, const AuditRecord& record,
                const std::string& hash);
int bind_outcome(sqlite3_stmt* insert, int64_t seq, const Outcome& outcome,
                 const std::string& hash);

// A whole row of audit_log as read back.
struct StoredRow {
  int64_t seq = 0;
  RowKind kind = RowKind::record;
  std::string hash;
  AuditRecord record;  // set when kind is record
  Outcome outcome;     // set when kind is outcome
};

// The select list that read_row() expects, starting at column 0.
extern const char* const kStoredRowColumns;

// Reads the current row of a statement selecting kStoredRowColumns. An unknown kind is kept as
// its number cast to RowKind, for verify to report.
void read_row(sqlite3_stmt* select, StoredRow* row);

}  // namespace pgw::store
