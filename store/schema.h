// The layout of an audit store file: append-only tables of sessions, statements (one row per
// record, numbered by a contiguous `seq`) and outcomes (keyed by the seq they complete); a small
// `audit_meta` table saying how the chains are computed, `audit_head` naming where they end, and
// `audit_anchor`, where prunes note what they cut from the front of the chains.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "store/sqlite_util.h"

namespace pgw::store {

// What a chained row is; its number leads the row's canonical bytes (chain.h).
enum class RowKind : int { record = 0, outcome = 1, anchor = 2 };

// Opens the file for the writer (created if missing) or for reading (must exist, read-only),
// through the SQLite VFS named `vfs` (the default if null). Null and `error` set, naming the file,
// if that fails.
Db open_db(const std::string& path, bool writable, std::string* error, const char* vfs = nullptr);

// Creates the tables and indexes of an empty file, or checks that an existing one is an audit
// store of this format. `chain` is "sha256" or "hmac-sha256"; `key_check` names the HMAC key
// (see chain.h) and is empty without one. A new store records both; an existing one must match.
bool create_schema(sqlite3* db, const std::string& path, const std::string& chain,
                   const std::string& key_check, std::string* error);

// Whether the file has a table named `table` (a store written before prunes has no audit_anchor).
bool has_table(sqlite3* db, const std::string& table);

// Checks that the file is an audit store of this format, for readers.
bool check_schema(sqlite3* db, const std::string& path, std::string* error);

// A value of audit_meta, or nothing if the key is absent (or unreadable).
std::optional<std::string> read_meta(sqlite3* db, const std::string& key);

// The ends of both chains as the writer last committed them: the last record's seq and the seq
// of the last outcome written, so that rows removed at the end of a chain are found too.
struct ChainHead {
  int64_t record_seq = 0;
  int64_t outcome_seq = 0;
};
bool read_head(sqlite3* db, const std::string& path, ChainHead* head, std::string* error);

}  // namespace pgw::store
