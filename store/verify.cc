// verify_audit: walks every row in seq order recomputing the hash chain.
#include <fmt/format.h>

#include <charconv>

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

std::string mismatch_reason(const StoredRow& row, bool key_matches) {
  if (!key_matches) {
    return "hash mismatch: the key given is not the key the store was written with";
  }
  return fmt::format("hash mismatch: this {} was changed, or a row before it was removed, "
                     "inserted or reordered",
                     row.kind == RowKind::outcome ? "outcome" : "record");
}

// The head seq the writer recorded; rows past it, or missing up to it, are not its rows.
VerifyResult check_head(sqlite3* db, const VerifyResult& walked, int64_t last_seq) {
  std::string text = read_meta(db, kHeadSeqKey).value_or("");
  int64_t head = -1;
  std::from_chars(text.data(), text.data() + text.size(), head);
  if (head < 0) {
    return broken(walked.rows_checked, last_seq,
                  fmt::format("the chain head \"{}\" is not a seq", text));
  }
  if (last_seq < head) {
    return broken(walked.rows_checked, last_seq + 1,
                  fmt::format("rows {} to {} were removed from the end of the chain",
                              last_seq + 1, head));
  }
  if (last_seq > head) {
    return broken(walked.rows_checked, head + 1,
                  fmt::format("rows {} to {} were added after pgwarden's last commit (seq {})",
                              head + 1, last_seq, head));
  }
  return walked;
}

}  // namespace

VerifyResult verify_audit(const std::string& path, const std::string& hmac_key,
                          std::string* error) {
  Db db = open_db(path, false, error);
  bool key_matches = true;
  if (!db || !check_schema(db.get(), path, error) ||
      !check_key(db.get(), path, hmac_key, &key_matches, error)) {
    return VerifyResult{false, 0, 0, *error};
  }
  Stmt stmt = prepare(db.get(), fmt::format("SELECT {} FROM audit_log ORDER BY seq",
                                            kStoredRowColumns),
                      path, error);
  if (!stmt) return VerifyResult{false, 0, 0, *error};
  ChainHasher hasher(hmac_key);
  std::string prev = kGenesisHash, canonical;
  StoredRow row;
  VerifyResult result;
  int64_t expected = 1;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    read_row(stmt.get(), &row);
    if (row.seq != expected) {
      return broken(result.rows_checked, expected,
                    fmt::format("seq gap: row {} is missing (next row is {})", expected, row.seq));
    }
    canonical.clear();
    if (row.kind == RowKind::record) {
      encode_record(row.seq, row.record, &canonical);
    } else if (row.kind == RowKind::outcome) {
      encode_outcome(row.seq, row.outcome, &canonical);
    } else {
      return broken(result.rows_checked, row.seq,
                    fmt::format("unknown row kind {}", static_cast<int>(row.kind)));
    }
    std::string hash = hasher.next(prev, canonical);
    if (hash != row.hash) {
      return broken(result.rows_checked, row.seq, mismatch_reason(row, key_matches));
    }
    prev = std::move(hash);
    ++result.rows_checked;
    ++expected;
  }
  if (rc != SQLITE_DONE) {
    *error = db_error(db.get(), path, "cannot read the rows");
    return VerifyResult{false, result.rows_checked, 0, *error};
  }
  return check_head(db.get(), result, expected - 1);
}

}  // namespace pgw::store
