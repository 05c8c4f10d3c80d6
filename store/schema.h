// The layout of an audit store file: one append-only table `audit_log` holding both kinds of row
// (a statement's record, and the outcome that completes it) in one sequence, so that a single
// hash chain covers both; and a small `audit_meta` table saying how the chain is computed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "store/sqlite_util.h"

namespace pgw::store {

// The `kind` column: what a row of audit_log is.
enum class RowKind : int { record = 0, outcome = 1 };

// Opens the file for the writer (created if missing) or for reading (must exist, read-only),
// through the SQLite VFS named `vfs` (the default if null). Null and `error` set, naming the file,
// if that fails.
Db open_db(const std::string& path, bool writable, std::string* error, const char* vfs = nullptr);

// Creates the tables and indexes of an empty file, or checks that an existing one is an audit
// store of this format. `chain` is "sha256" or "hmac-sha256"; `key_check` names the HMAC key
// (see chain.h) and is empty without one. A new store records both; an existing one must match.
bool create_schema(sqlite3* db, const std::string& path, const std::string& chain,
                   const std::string& key_check, std::string* error);

// Checks that the file is an audit store of this format, for readers.
bool check_schema(sqlite3* db, const std::string& path, std::string* error);

// A value of audit_meta, or nothing if the key is absent (or unreadable).
std::optional<std::string> read_meta(sqlite3* db, const std::string& key);

// The meta key holding the seq of the last row the writer committed, so that removing rows at
// the end of the chain is found too.
inline constexpr const char* kHeadSeqKey = "head_seq";

}  // namespace pgw::store
