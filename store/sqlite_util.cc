#include "store/sqlite_util.h"

#include <fmt/format.h>

namespace pgw::store {

Stmt prepare(sqlite3* db, std::string_view sql, const std::string& path, std::string* error) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    *error = db_error(db, path, fmt::format("cannot prepare \"{}\"", sql));
    sqlite3_finalize(stmt);
    return nullptr;
  }
  return Stmt(stmt);
}

bool exec(sqlite3* db, const char* sql, const std::string& path, std::string* error) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK) return true;
  *error = db_error(db, path, fmt::format("cannot run \"{}\"", sql));
  return false;
}

std::string db_error(sqlite3* db, const std::string& path, std::string_view what) {
  return fmt::format("audit store {}: {}: {}", path, what,
                     db ? sqlite3_errmsg(db) : "out of memory");
}

std::string column_string(sqlite3_stmt* stmt, int col) {
  const void* data = sqlite3_column_blob(stmt, col);
  int size = sqlite3_column_bytes(stmt, col);
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

int bind_string(sqlite3_stmt* stmt, int index, std::string_view value, bool as_blob) {
  if (as_blob) {
    return sqlite3_bind_blob64(stmt, index, value.data(), value.size(), SQLITE_STATIC);
  }
  return sqlite3_bind_text64(stmt, index, value.data(), value.size(), SQLITE_STATIC,
                             SQLITE_UTF8);
}

}  // namespace pgw::store
