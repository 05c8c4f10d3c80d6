// Reading a PostgreSQL store: a read-only connection that sees one snapshot of the store, and
// server-side cursors that fetch a query's rows a batch at a time, so that a reader's memory stays
// constant however large the store.
#pragma once

#include <string>
#include <vector>

#include "store/cursor.h"
#include "store/pg_schema.h"
#include "store/pg_util.h"

namespace pgw::store {

// Connects to the store at `where`, checks its schema (and points search_path at it) and opens a
// read-only transaction on one snapshot, so that every query of a reader sees the same state of
// every instance. Null and `error` set if that fails.
PgConn open_pg_reader(const PgLocation& where, std::string* error);
// Opens a read-only transaction on one snapshot of the store on a reader's connection.
bool begin_pg_read(PGconn* conn, const PgLocation& where, std::string* error);

// The rows of `sql` (with text parameters `params`) through a cursor of the reader's transaction,
// fetched kBatch at a time; bytea columns read as their bytes.
class PgCursor final : public RowCursor, private Columns {
 public:
  static constexpr int kBatch = 1000;
  PgCursor(PGconn* conn, std::string sql, std::vector<std::string> params, std::string what);
  ~PgCursor() override;
  PgCursor(const PgCursor&) = delete;
  PgCursor& operator=(const PgCursor&) = delete;

  const Columns* next(std::string* error) override;

 private:
  std::string text(int col) const override;
  int64_t integer(int col) const override { return pg_int(batch_.get(), row_, col); }
  double real(int col) const override;
  bool null(int col) const override { return PQgetisnull(batch_.get(), row_, col) != 0; }

  PGconn* conn_;
  std::string sql_;
  std::vector<std::string> params_;
  std::string what_;
  std::string name_;  // of the cursor once declared
  PgResult batch_;
  int row_ = -1;
  bool done_ = false;
};

}  // namespace pgw::store
