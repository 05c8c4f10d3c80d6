// Owners of SQLite handles, so that every exit path finalizes statements and closes connections,
// and the few helpers every part of the store needs to talk to SQLite.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <string_view>

namespace pgw::store {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
// An open connection; closed when it goes out of scope.
using Db = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
// A prepared statement; finalized when it goes out of scope.
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Prepares `sql` for repeated use; null and `error` set (naming `path`) if SQLite refuses it.
Stmt prepare(sqlite3* db, std::string_view sql, const std::string& path, std::string* error);

// Runs statements that return no rows; false and `error` set (naming `path`) on failure.
bool exec(sqlite3* db, const char* sql, const std::string& path, std::string* error);

// "audit store <path>: <what>: <SQLite's message>", the form of every SQLite error we report.
std::string db_error(sqlite3* db, const std::string& path, std::string_view what);

// A text or blob column's exact bytes, embedded NULs included; empty for NULL.
std::string column_string(sqlite3_stmt* stmt, int col);

// Binds `value` as text (or as a blob when `as_blob`) with its exact length; SQLITE_OK or error.
int bind_string(sqlite3_stmt* stmt, int index, std::string_view value, bool as_blob = false);

}  // namespace pgw::store
