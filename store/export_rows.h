// What `audit export` and `audit export --follow` share: the query that joins a record with its
// session and outcome (with the export filters and any further terms, in either store's SQL), how
// to run it on either store, and the writer of CSV and JSON lines rows.
#pragma once

#include <array>
#include <memory>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "store/audit.h"
#include "store/cursor.h"
#include "store/pg_util.h"
#include "store/sqlite_util.h"

namespace pgw::store {

// A query's parameter: an integer, or text.
using QueryValue = std::variant<int64_t, std::string>;

// SQL with numbered parameters ($1, $2, ..., which SQLite and PostgreSQL both read) and their
// values, built up term by term.
struct Query {
  std::string sql;
  std::vector<QueryValue> values;
  // Appends ` AND <expr> <op> $n` with `value` as parameter n.
  void term(std::string_view expr, std::string_view op, QueryValue value);
};

// The export's select of one row per record (columns in SPEC section 9's order), restricted by
// `filter`, without ORDER BY; further terms name its tables `r` (audit_statement), `s`
// (audit_session) and `o` (audit_outcome).
Query export_query(Backend backend, const ExportFilter& filter);

// The terms that join an outcome `o` with its record `r`, as export_query joins them, for a
// query of the caller's own.
std::string outcome_join(Backend backend);

// The rows of `query` on a SQLite connection; null with `error` set if it cannot be prepared.
std::unique_ptr<RowCursor> sqlite_rows(sqlite3* db, const Query& query, const std::string& path,
                                       std::string* error);
// The rows of `query` through a cursor of a PostgreSQL reader's transaction.
std::unique_ptr<RowCursor> pg_rows(PGconn* conn, const Query& query, std::string what);

// Writes export rows as CSV (RFC 4180, CRLF) or JSON lines.
class RowWriter {
 public:
  RowWriter(ExportFormat format, std::ostream& out) : format_(format), out_(out) {}
  // The CSV header; nothing for JSON lines.
  void header();
  // One row of an export_query.
  void row(const Columns& row);

 private:
  ExportFormat format_;
  std::ostream& out_;
  ExportCells cells_;
};

}  // namespace pgw::store
