// Reading query results one row at a time whichever database holds the store, so that a record,
// an outcome, an export row or an approval is read by one function from SQLite and PostgreSQL
// alike: a row's columns (Columns), the rows of a query (RowCursor), and SQLite's cursor.
#pragma once

#include <cstdint>
#include <string>

#include "store/sqlite_util.h"

namespace pgw::store {

// The columns of the current row of a result, numbered from 0.
class Columns {
 public:
  // A text or binary (BLOB, bytea) column's exact bytes; empty for NULL.
  virtual std::string text(int col) const = 0;
  virtual int64_t integer(int col) const = 0;  // 0 for NULL
  virtual double real(int col) const = 0;      // 0 for NULL
  virtual bool null(int col) const = 0;

 protected:
  ~Columns() = default;
};

// The rows of a query, in its order.
class RowCursor {
 public:
  virtual ~RowCursor() = default;
  // The next row, valid until the next call; null at the end, or on error with `error` set (so
  // that a caller whose `error` was empty tells the two apart by it).
  virtual const Columns* next(std::string* error) = 0;
};

// The rows of a prepared (and bound) SQLite statement; errors name `path` and say "cannot read
// <what>".
class SqliteCursor final : public RowCursor, private Columns {
 public:
  SqliteCursor(sqlite3* db, Stmt stmt, std::string path, const char* what)
      : db_(db), stmt_(std::move(stmt)), path_(std::move(path)), what_(what) {}
  const Columns* next(std::string* error) override;

 private:
  std::string text(int col) const override { return column_string(stmt_.get(), col); }
  int64_t integer(int col) const override { return sqlite3_column_int64(stmt_.get(), col); }
  double real(int col) const override { return sqlite3_column_double(stmt_.get(), col); }
  bool null(int col) const override {
    return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL;
  }

  sqlite3* db_;
  Stmt stmt_;
  std::string path_;
  const char* what_;
};

}  // namespace pgw::store
