// verify_audit: walks the records in seq order, then the outcomes, recomputing both hash chains.
#include <fmt/format.h>

#include "store/audit.h"
#include "store/chain.h"
#include "store/row.h"
#include "store/schema.h"

namespace pgw::store {
namespace {

VerifyResult broken(int64_t rows_checked, int64_t seq, std::string reason) {
  return VerifyResult{false, rows_checked, seq, std::move(reason)};
}

// The key given must be the kind of key the store was written with.
bool check_key(sqlite3* db, const std::string& path, const std::string& hmac_key,
               bool* key_matches, std::string* error) {
  std::string chain = read_meta(db, "chain").value_or("");
  if (chain != chain_name(hmac_key)) {
    *error = hmac_key.empty()
                 ? fmt::format("audit store {}: the chain is an HMAC; give its key (--key-file)",
                               path)
                 : fmt::format("audit store {}: the chain is \"{}\", not keyed; verify it "
                               "without --key-file",
                               path, chain);
    return false;
  }
  *key_matches = read_meta(db, "key_check").value_or("") == key_check(hmac_key);
  return true;
}

std::string mismatch_reason(bool key_matches, const char* what) {
  if (!key_matches) {
    return "hash mismatch: the key given is not the key the store was written with";
  }
  return fmt::format("hash mismatch: {} was changed, or a row before it in its chain was removed, "
                     "inserted or reordered",
                     what);
}

// Walks the records in seq order: contiguous from 1, each hash chained to the one before.
VerifyResult walk_records(sqlite3* db, const std::string& path, ChainHasher& hasher,
                          bool key_matches, int64_t* last_seq, std::string* error) {
  Stmt stmt = prepare(db, fmt::format("SELECT {} FROM {} ORDER BY r.seq", kStoredRecordColumns,
                                      kStoredRecordFrom),
                      path, error);
  if (!stmt) return VerifyResult{false, 0, 0, *error};
  std::string prev = kGenesisHash, canonical;
  StoredRecord row;
  VerifyResult result;
  int64_t expected = 1;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    read_record(stmt.get(), &row);
    if (row.seq != expected) {
      return broken(result.rows_checked, expected,
                    fmt::format("seq gap: record {} is missing (next record is {})", expected,
                                row.seq));
    }
    canonical.clear();
    encode_record(row.seq, row.instance, row.session, row.record, &canonical);
    std::string hash = hasher.next(prev, canonical);
    if (hash != row.hash) {
      return broken(result.rows_checked, row.seq,
                    mismatch_reason(key_matches, "this record (or its session's row)"));
    }
    prev = std::move(hash);
    ++result.rows_checked;
    ++expected;
  }
  if (rc != SQLITE_DONE) {
    *error = db_error(db, path, "cannot read the records");
    return VerifyResult{false, result.rows_checked, 0, *error};
  }
  *last_seq = expected - 1;
  return result;
}

// Walks the outcomes: each names an existing record and the outcome written before it, which must
// exist, be followed by no other, and give the hash this one is chained to; nothing follows the
// head.
VerifyResult walk_outcomes(sqlite3* db, const std::string& path, ChainHasher& hasher,
                           bool key_matches, int64_t last_seq, const ChainHead& head,
                           VerifyResult result, std::string* error) {
  Stmt stmt = prepare(db, fmt::format("SELECT {} FROM audit_outcome ORDER BY seq",
                                      kStoredOutcomeColumns),
                      path, error);
  Stmt prev_hash = prepare(db, "SELECT hash FROM audit_outcome WHERE seq = ?1", path, error);
  Stmt fork = prepare(db,
                      "SELECT prev, min(seq), max(seq) FROM audit_outcome GROUP BY prev "
                      "HAVING count(*) > 1 LIMIT 1",
                      path, error);
  if (!stmt || !prev_hash || !fork) return VerifyResult{false, result.rows_checked, 0, *error};
  if (sqlite3_step(fork.get()) == SQLITE_ROW) {
    int64_t prev = sqlite3_column_int64(fork.get(), 0);
    return broken(result.rows_checked, sqlite3_column_int64(fork.get(), 2),
                  fmt::format("the outcomes of records {} and {} both follow {}: a row was "
                              "inserted into the outcome chain",
                              sqlite3_column_int64(fork.get(), 1),
                              sqlite3_column_int64(fork.get(), 2),
                              prev == 0 ? std::string("the chain's start")
                                        : fmt::format("the outcome of record {}", prev)));
  }
  std::string canonical, prev;
  StoredOutcome row;
  bool head_found = head.outcome_seq == 0;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    read_outcome(stmt.get(), &row);
    int64_t seq = row.outcome.seq;
    if (seq < 1 || seq > last_seq) {
      return broken(result.rows_checked, seq,
                    fmt::format("an outcome names record {}, which does not exist", seq));
    }
    if (row.prev == head.outcome_seq && head.outcome_seq != 0) {
      return broken(result.rows_checked, seq,
                    fmt::format("the outcome of record {} was added after pgwarden's last "
                                "commit (whose last outcome is that of record {})",
                                seq, head.outcome_seq));
    }
    if (row.prev == 0) {
      prev = kGenesisHash;
    } else {
      sqlite3_bind_int64(prev_hash.get(), 1, row.prev);
      bool found = sqlite3_step(prev_hash.get()) == SQLITE_ROW;
      if (found) prev = column_string(prev_hash.get(), 0);
      sqlite3_reset(prev_hash.get());
      if (!found) {
        return broken(result.rows_checked, seq,
                      fmt::format("the outcome written before that of record {} (the outcome of "
                                  "record {}) was removed",
                                  seq, row.prev));
      }
    }
    canonical.clear();
    encode_outcome(row.prev, row.outcome, &canonical);
    if (hasher.next(prev, canonical) != row.hash) {
      return broken(result.rows_checked, seq,
                    mismatch_reason(key_matches, "the outcome of this record"));
    }
    head_found = head_found || seq == head.outcome_seq;
    ++result.rows_checked;
  }
  if (rc != SQLITE_DONE) {
    *error = db_error(db, path, "cannot read the outcomes");
    return VerifyResult{false, result.rows_checked, 0, *error};
  }
  if (!head_found) {
    return broken(result.rows_checked, head.outcome_seq,
                  fmt::format("the outcome of record {}, the last pgwarden wrote, was removed",
                              head.outcome_seq));
  }
  return result;
}

// The last record seq the writer committed; records past it, or missing up to it, are not its.
VerifyResult check_head(const VerifyResult& walked, int64_t last_seq, const ChainHead& head) {
  if (last_seq < head.record_seq) {
    return broken(walked.rows_checked, last_seq + 1,
                  fmt::format("records {} to {} were removed from the end of the chain",
                              last_seq + 1, head.record_seq));
  }
  if (last_seq > head.record_seq) {
    return broken(walked.rows_checked, head.record_seq + 1,
                  fmt::format("records {} to {} were added after pgwarden's last commit (seq {})",
                              head.record_seq + 1, last_seq, head.record_seq));
  }
  return walked;
}

}  // namespace

VerifyResult verify_audit(const std::string& path, const std::string& hmac_key,
                          std::string* error) {
  Db db = open_db(path, false, error);
  bool key_matches = true;
  ChainHead head;
  if (!db || !check_schema(db.get(), path, error) ||
      !check_key(db.get(), path, hmac_key, &key_matches, error) ||
      !read_head(db.get(), path, &head, error)) {
    return VerifyResult{false, 0, 0, *error};
  }
  ChainHasher hasher(hmac_key);
  int64_t last_seq = 0;
  VerifyResult result = walk_records(db.get(), path, hasher, key_matches, &last_seq, error);
  if (!result.ok) return result;
  result = check_head(result, last_seq, head);
  if (!result.ok) return result;
  return walk_outcomes(db.get(), path, hasher, key_matches, last_seq, head, result, error);
}

}  // namespace pgw::store
