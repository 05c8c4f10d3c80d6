#include "store/schema.h"

#include <fmt/format.h>

namespace pgw::store {
namespace {

constexpr const char* kFormat = "pgwarden-audit-2";
constexpr const char* kPreviousFormat = "pgwarden-audit-1";

// A session's row is written with its first record; a statement's row names it and holds only what
// is its own; an outcome is keyed by its statement's seq, so that no secondary index is kept up
// per statement (the partial index on holds only grows with holds). Rows are never updated, nor
// deleted but by a prune (kAnchorSql); the triggers stop accidents, the hash chains find
// deliberate edits.
// audit_head, one row, is where the writer notes the end of both chains at every commit.
constexpr const char* kCreateSql = R"sql(
CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  record_seq INTEGER NOT NULL,
  outcome_seq INTEGER NOT NULL
);
INSERT INTO audit_head VALUES (1, 0, 0);
CREATE TABLE audit_session (
  id INTEGER PRIMARY KEY,
  instance TEXT,
  session_id TEXT,
  principal TEXT,
  attribution TEXT,
  job_id TEXT,
  commit_ref TEXT,
  client_addr TEXT,
  database_name TEXT,
  upstream_role TEXT,
  application_name TEXT
);
CREATE TABLE audit_statement (
  seq INTEGER PRIMARY KEY,
  session INTEGER NOT NULL,
  ts_us INTEGER NOT NULL,
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
  expires_us INTEGER,
  hash BLOB NOT NULL
);
CREATE INDEX audit_holds ON audit_statement (seq) WHERE decision = 'hold';
CREATE TABLE audit_outcome (
  seq INTEGER PRIMARY KEY,
  prev INTEGER NOT NULL,
  row_count INTEGER,
  sqlstate TEXT,
  error TEXT,
  duration_ms REAL,
  masked_values INTEGER,
  decision TEXT,
  approver TEXT,
  hash BLOB NOT NULL
);
CREATE TRIGGER audit_session_no_update BEFORE UPDATE ON audit_session
  BEGIN SELECT RAISE(ABORT, 'audit_session is append-only'); END;
CREATE TRIGGER audit_session_no_delete BEFORE DELETE ON audit_session
  BEGIN SELECT RAISE(ABORT, 'audit_session is append-only'); END;
CREATE TRIGGER audit_statement_no_update BEFORE UPDATE ON audit_statement
  BEGIN SELECT RAISE(ABORT, 'audit_statement is append-only'); END;
CREATE TRIGGER audit_outcome_no_update BEFORE UPDATE ON audit_outcome
  BEGIN SELECT RAISE(ABORT, 'audit_outcome is append-only'); END;
)sql";

// Prunes (SPEC section 13): audit_anchor, and the rule that a record or outcome may be deleted only
// once an anchor covers it. A prune commits its anchor first, then deletes what it covers in short
// transactions of its own; the rows nobody pruned stay undeletable for everyone. Added to a store
// written before prunes when it is first opened for writing (the delete triggers are replaced).
constexpr const char* kAnchorSql = R"sql(
CREATE TABLE audit_anchor (
  number INTEGER PRIMARY KEY,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  before_us INTEGER NOT NULL,
  pruned_us INTEGER NOT NULL,
  records INTEGER NOT NULL,
  outcomes INTEGER NOT NULL,
  record_hash BLOB NOT NULL,
  outcome_seq INTEGER NOT NULL,
  outcome_hash BLOB NOT NULL,
  hash BLOB NOT NULL
);
CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor
  BEGIN SELECT RAISE(ABORT, 'audit_anchor is append-only'); END;
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
  BEGIN SELECT RAISE(ABORT, 'audit_anchor is append-only'); END;
DROP TRIGGER IF EXISTS audit_statement_no_delete;
CREATE TRIGGER audit_statement_no_delete BEFORE DELETE ON audit_statement
  WHEN OLD.seq > (SELECT coalesce(max(last_seq), 0) FROM audit_anchor)
  BEGIN
    SELECT RAISE(ABORT, 'audit_statement is append-only (a prune deletes what its anchor covers)');
  END;
DROP TRIGGER IF EXISTS audit_outcome_no_delete;
CREATE TRIGGER audit_outcome_no_delete BEFORE DELETE ON audit_outcome
  WHEN OLD.seq > (SELECT coalesce(max(last_seq), 0) FROM audit_anchor)
  BEGIN
    SELECT RAISE(ABORT, 'audit_outcome is append-only (a prune deletes what its anchor covers)');
  END;
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
  bool ok = exec(db, kCreateSql, path, error) && exec(db, kAnchorSql, path, error) &&
            write_meta(db, path, "format", kFormat, error) &&
            write_meta(db, path, "chain", chain, error) &&
            write_meta(db, path, "key_check", key_check, error) && exec(db, "COMMIT", path, error);
  if (!ok) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return ok;
}

// Adds audit_anchor to a store written before prunes.
bool add_anchors(sqlite3* db, const std::string& path, std::string* error) {
  if (!exec(db, "BEGIN IMMEDIATE", path, error)) return false;
  if (has_table(db, "audit_anchor")) return exec(db, "COMMIT", path, error);
  bool ok = exec(db, kAnchorSql, path, error) && exec(db, "COMMIT", path, error);
  if (!ok) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return ok;
}

}  // namespace

bool has_table(sqlite3* db, const std::string& table) {
  std::string ignored;
  Stmt stmt = prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", "",
                      &ignored);
  if (!stmt) return false;
  bind_string(stmt.get(), 1, table);
  return sqlite3_step(stmt.get()) == SQLITE_ROW;
}

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
  } else if (*format == kPreviousFormat) {
    *error = fmt::format(
        "audit store {}: format is \"{}\", written by an earlier pgwarden; this pgwarden reads "
        "\"{}\" (contiguous seq, session rows). Keep the old file for its records (verify and "
        "export it with the pgwarden that wrote it) and point audit.path at a new file",
        path, *format, kFormat);
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
  return has_table(db, "audit_anchor") || add_anchors(db, path, error);
}

std::optional<std::string> read_meta(sqlite3* db, const std::string& key) {
  std::string ignored;
  Stmt stmt = prepare(db, "SELECT value FROM audit_meta WHERE key = ?1", "", &ignored);
  if (!stmt) return std::nullopt;
  bind_string(stmt.get(), 1, key);
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return std::nullopt;
  return column_string(stmt.get(), 0);
}

bool read_head(sqlite3* db, const std::string& path, ChainHead* head, std::string* error) {
  Stmt stmt = prepare(db, "SELECT record_seq, outcome_seq FROM audit_head WHERE id = 1", path,
                      error);
  if (!stmt) return false;
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) {
    *error = db_error(db, path, "cannot read the chain head (audit_head)");
    return false;
  }
  head->record_seq = sqlite3_column_int64(stmt.get(), 0);
  head->outcome_seq = sqlite3_column_int64(stmt.get(), 1);
  return true;
}

}  // namespace pgw::store
