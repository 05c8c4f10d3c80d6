#include "store/schema.h"

#include <fmt/format.h>

namespace pgw::store {
namespace {

constexpr const char* kFormat = "pgwarden-audit-1";

// Rows are never updated or deleted by pgwarden; the triggers stop accidents, the hash chain
// finds deliberate edits.
constexpr const char* kCreateSql = R"sql(
CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY,
  kind INTEGER NOT NULL,
  ts_us INTEGER,
  principal TEXT,
  attribution TEXT,
  job_id TEXT,
  commit_ref TEXT,
  session_id TEXT,
  client_addr TEXT,
  database_name TEXT,
  upstream_role TEXT,
  application_name TEXT,
  protocol TEXT,
  command TEXT,
  classes TEXT,
  tables_read TEXT,
  tables_written TEXT,
  fingerprint TEXT,
  statement BLOB,
  parameters TEXT,
  decision TEXT,
  rule TEXT,
  approver TEXT,
  ref_seq INTEGER,
  row_count INTEGER,
  sqlstate TEXT,
  error TEXT,
  duration_ms REAL,
  masked_values INTEGER,
  expires_us INTEGER,
  hash BLOB NOT NULL
);
CREATE INDEX audit_by_principal ON audit_log (principal, ts_us) WHERE kind = 0;
CREATE INDEX audit_by_job ON audit_log (job_id) WHERE kind = 0;
CREATE INDEX audit_outcome_of ON audit_log (ref_seq) WHERE kind = 1;
CREATE INDEX audit_holds ON audit_log (seq) WHERE kind = 0 AND decision = 'hold';
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
)sql";

bool has_tables(sqlite3* db, const std::string& path, bool* any, std::string* error) {
  Stmt stmt = prepare(db, "SELECT count(*) FROM sqlite_master", path, error);
  if (!stmt) return false;
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) {
    *error = db_error(db, path, "cannot read the schema");
    return false;
  }
  *any = sqlite3_column_int64(stmt.get(), 0) > 0;
  return true;
}

bool write_meta(sqlite3* db, const std::string& path, const std::string& key,
                const std::string& value, std::string* error) {
  Stmt stmt = prepare(db, "INSERT OR REPLACE INTO audit_meta (key, value) VALUES (?1, ?2)", path,
                      error);
  if (!stmt) return false;
  bind_string(stmt.get(), 1, key);
  bind_string(stmt.get(), 2, value);
  if (sqlite3_step(stmt.get()) == SQLITE_DONE) return true;
  *error = db_error(db, path, fmt::format("cannot write meta key {}", key));
  return false;
}

bool create_fresh(sqlite3* db, const std::string& path, const std::string& chain,
                  const std::string& key_check, std::string* error) {
  if (!exec(db, "BEGIN IMMEDIATE", path, error)) return false;
  bool ok = exec(db, kCreateSql, path, error) && write_meta(db, path, "format", kFormat, error) &&
            write_meta(db, path, "chain", chain, error) &&
            write_meta(db, path, "key_check", key_check, error) &&
            write_meta(db, path, kHeadSeqKey, "0", error) && exec(db, "COMMIT", path, error);
  if (!ok) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return ok;
}

}  // namespace

Db open_db(const std::string& path, bool writable, std::string* error, const char* vfs) {
  sqlite3* raw = nullptr;
  int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, vfs);
  Db db(raw);
  if (rc != SQLITE_OK) {
    *error = db_error(raw, path, "cannot open");
    return nullptr;
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

bool check_schema(sqlite3* db, const std::string& path, std::string* error) {
  std::optional<std::string> format = read_meta(db, "format");
  if (format == kFormat) return true;
  if (!format) {
    *error = fmt::format("audit store {}: not a pgwarden audit store (no audit_meta format)",
                         path);
  } else {
    *error = fmt::format("audit store {}: format is \"{}\", this pgwarden reads \"{}\"", path,
                         *format, kFormat);
  }
  return false;
}

bool create_schema(sqlite3* db, const std::string& path, const std::string& chain,
                   const std::string& key_check, std::string* error) {
  bool any = false;
  if (!has_tables(db, path, &any, error)) return false;
  if (!any) return create_fresh(db, path, chain, key_check, error);
  if (!check_schema(db, path, error)) return false;
  std::string stored_chain = read_meta(db, "chain").value_or("");
  if (stored_chain != chain) {
    *error = fmt::format(
        "audit store {}: the store's chain is \"{}\" but the configuration gives \"{}\" "
        "(set or remove audit.hmac_key_file to match the store)",
        path, stored_chain, chain);
    return false;
  }
  if (read_meta(db, "key_check").value_or("") != key_check) {
    *error = fmt::format(
        "audit store {}: the HMAC key is not the key this store was created with", path);
    return false;
  }
  return true;
}

std::optional<std::string> read_meta(sqlite3* db, const std::string& key) {
  std::string ignored;
  Stmt stmt = prepare(db, "SELECT value FROM audit_meta WHERE key = ?1", "", &ignored);
  if (!stmt) return std::nullopt;
  bind_string(stmt.get(), 1, key);
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return std::nullopt;
  return column_string(stmt.get(), 0);
}

}  // namespace pgw::store
