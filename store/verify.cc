// verify_audit: walks each chain's anchors (what prunes cut from its front), then its records in
// seq order from the first kept one, then the chain of their outcomes, recomputing every hash. The
// walk is one for both backends; a backend gives it the rows of one chain: the only one of a
// SQLite store, each instance's of a PostgreSQL store.
#include <fmt/format.h>

#include <array>
#include <memory>
#include <optional>

#include "store/audit.h"
#include "store/chain.h"
#include "store/pg_cursor.h"
#include "store/row.h"
#include "store/schema.h"

namespace pgw::store {
namespace {

// The rows of one chain as the walk reads them, and where its writer last left it.
struct ChainRows {
  std::unique_ptr<RowCursor> records;   // kStoredRecordColumns, in seq order
  // kStoredOutcomeColumns then the seq and hash of the outcome its prev names (NULL if none), in
  // seq order.
  std::unique_ptr<RowCursor> outcomes;
  // Outcomes that follow the same outcome: prev, min(seq), max(seq); the first such prev only.
  std::unique_ptr<RowCursor> forks;
  ChainHead head;
  std::unique_ptr<RowCursor> anchors;  // kAnchorColumns in number order; null if none can exist
};

// The queries of ChainRows, in its order: over all rows of a SQLite store, or over those of the
// instance $1 of a PostgreSQL store (whose keys lead with the instance).
std::array<std::string, 3> chain_queries(bool per_instance) {
  auto same = [per_instance](const char* a, const char* b) {
    return per_instance ? fmt::format(" AND {}.instance = {}.instance", a, b) : std::string();
  };
  auto only = [per_instance](const char* t) {
    return per_instance ? fmt::format(" WHERE {}.instance = $1", t) : std::string();
  };
  return {
      fmt::format("SELECT {} FROM audit_statement r LEFT JOIN audit_session s ON s.id = "
                  "r.session{}{} ORDER BY r.seq",
                  kStoredRecordColumns, same("s", "r"), only("r")),
      fmt::format("SELECT {}, p.seq, p.hash FROM audit_outcome o LEFT JOIN audit_outcome p ON "
                  "p.seq = o.prev{}{} ORDER BY o.seq",
                  kStoredOutcomeColumns, same("p", "o"), only("o")),
      fmt::format("SELECT prev, min(seq), max(seq) FROM audit_outcome{} GROUP BY prev "
                  "HAVING count(*) > 1 LIMIT 1",
                  only("audit_outcome")),
  };
}

VerifyResult broken(const VerifyResult& so_far, int64_t seq, std::string reason) {
  VerifyResult result = so_far;
  result.ok = false;
  result.bad_seq = seq;
  result.reason = std::move(reason);
  return result;
}

VerifyResult unreadable(const VerifyResult& so_far, const std::string& error) {
  return broken(so_far, 0, error);
}

// The key given must be the kind of key the store (`what`) was written with, as its meta
// records `chain` and `stored_check`; `key_matches` says whether it is that very key.
bool check_key(const std::string& chain, const std::string& stored_check, const std::string& what,
               const std::string& hmac_key, bool* key_matches, std::string* error) {
  if (chain != chain_name(hmac_key)) {
    *error = hmac_key.empty()
                 ? fmt::format("audit store {}: the chain is an HMAC; give its key (--key-file)",
                               what)
                 : fmt::format("audit store {}: the chain is \"{}\", not keyed; verify it "
                               "without --key-file",
                               what, chain);
    return false;
  }
  *key_matches = stored_check == key_check(hmac_key);
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

// An anchor as messages name it.
std::string anchor_name(const Anchor& a) {
  return fmt::format("anchor {} (records {}-{} pruned at {})", a.number, a.first_seq, a.last_seq,
                     format_ts(a.pruned_us));
}

// Walks the anchors: numbered from 1, each taking up where the one before ended, each hash chained
// to the one before. `newest` gets the last.
VerifyResult walk_anchors(RowCursor* anchors, const std::string& instance, ChainHasher& hasher,
                          bool key_matches, VerifyResult result, std::optional<Anchor>* newest,
                          std::string* error) {
  if (anchors == nullptr) return result;
  std::string prev = kGenesisHash, canonical;
  Anchor a;
  a.instance = instance;
  int64_t expected = 1, next_seq = 1;
  while (const Columns* columns = anchors->next(error)) {
    read_anchor(*columns, &a);
    if (a.number != expected) {
      return broken(result, a.first_seq,
                    fmt::format("anchor {} is missing (deleted; the next is {})", expected,
                                anchor_name(a)));
    }
    if (a.first_seq != next_seq) {
      return broken(result, a.first_seq,
                    fmt::format("{} does not start where the anchor before it ended (record {})",
                                anchor_name(a), next_seq - 1));
    }
    canonical.clear();
    encode_anchor(a, &canonical);
    if (hasher.next(prev, canonical) != a.hash) {
      return broken(result, a.first_seq,
                    key_matches ? fmt::format("hash mismatch: {} was changed or replaced, or an "
                                              "anchor before it was",
                                              anchor_name(a))
                                : mismatch_reason(false, ""));
    }
    prev = a.hash;
    next_seq = a.last_seq + 1;
    ++expected;
    ++result.rows_checked;
    *newest = a;
  }
  if (!error->empty()) return unreadable(result, *error);
  return result;
}

// The records from `expected` to `found` - 1 are missing.
std::string gap_reason(int64_t expected, int64_t found, const std::optional<Anchor>& newest) {
  std::string missing = expected + 1 == found
                            ? fmt::format("record {} is missing", expected)
                            : fmt::format("records {}-{} are missing", expected, found - 1);
  if (newest && expected == newest->last_seq + 1) {
    return fmt::format("seq gap: {} after {}: removed after the prune, or the anchor of a later "
                       "prune was deleted",
                       missing, anchor_name(*newest));
  }
  if (!newest && expected == 1) {
    return fmt::format("seq gap: {} and no anchor covers them: the records, or the anchor of "
                       "their prune, were deleted",
                       missing);
  }
  return fmt::format("seq gap: {} (next record is {})", missing, found);
}

// Walks the records in seq order: contiguous from the first after the newest anchor's (or 1),
// each hash chained to the one before (the first to the anchor's). Records the anchor covers are
// left out: a prune deletes them after it commits its anchor.
VerifyResult walk_records(RowCursor& records, const std::optional<Anchor>& newest,
                          ChainHasher& hasher, bool key_matches, VerifyResult result,
                          int64_t* last_seq, std::string* error) {
  std::string prev = newest ? newest->record_hash : kGenesisHash, canonical;
  StoredRecord row;
  int64_t expected = newest ? newest->last_seq + 1 : 1;
  while (const Columns* columns = records.next(error)) {
    read_record(*columns, &row);
    if (row.seq < expected && newest && row.seq <= newest->last_seq) continue;
    if (row.seq != expected) {
      return broken(result, expected, gap_reason(expected, row.seq, newest));
    }
    canonical.clear();
    encode_record(row.seq, row.instance, row.session, row.record, &canonical);
    std::string hash = hasher.next(prev, canonical);
    if (hash != row.hash) {
      return broken(result, row.seq,
                    mismatch_reason(key_matches, "this record (or its session's row)"));
    }
    prev = std::move(hash);
    ++result.rows_checked;
    ++expected;
  }
  if (!error->empty()) return unreadable(result, *error);
  *last_seq = expected - 1;
  return result;
}

// Two outcomes that follow the same one: a row was inserted into the chain.
std::string fork_reason(const Columns& fork) {
  int64_t prev = fork.integer(0);
  return fmt::format("the outcomes of records {} and {} both follow {}: a row was inserted into "
                     "the outcome chain",
                     fork.integer(1), fork.integer(2),
                     prev == 0 ? std::string("the chain's start")
                               : fmt::format("the outcome of record {}", prev));
}

// The hash the outcome after that of record `prev` is chained to: the genesis hash, the newest
// anchor's, or that of the row (at `hash_column`, null if it is gone). Empty with `reason` set if
// there is none.
std::string prev_outcome_hash(const Columns& columns, int hash_column, int64_t seq, int64_t prev,
                              const std::optional<Anchor>& newest, std::string* reason) {
  if (newest && prev == newest->outcome_seq) return newest->outcome_hash;
  if (newest && prev == 0) {
    *reason = fmt::format("the outcome of record {} starts the outcome chain, which {} continues",
                          seq, anchor_name(*newest));
    return {};
  }
  if (newest && prev <= newest->last_seq) {
    *reason = fmt::format("the outcome of record {} follows the outcome of record {}, which {} "
                          "pruned, but the outcome chain that anchor cut ended at the outcome "
                          "of record {}",
                          seq, prev, anchor_name(*newest), newest->outcome_seq);
    return {};
  }
  if (prev == 0) return kGenesisHash;
  if (columns.null(hash_column)) {
    *reason = fmt::format("the outcome written before that of record {} (the outcome of record "
                          "{}) was removed",
                          seq, prev);
    return {};
  }
  return columns.text(hash_column);
}

// Walks the outcomes: each names an existing record and the outcome written before it, which must
// exist (or be the last its chain's newest anchor cut), be followed by no other, and give the hash
// this one is chained to; nothing follows the head. Outcomes the anchor covers are left out.
VerifyResult walk_outcomes(ChainRows& rows, const std::optional<Anchor>& newest,
                           ChainHasher& hasher, bool key_matches, int64_t last_seq,
                           VerifyResult result, std::string* error) {
  const ChainHead& head = rows.head;
  const int64_t first_seq = newest ? newest->last_seq + 1 : 1;
  if (const Columns* fork = rows.forks->next(error)) {
    return broken(result, fork->integer(2), fork_reason(*fork));
  }
  if (!error->empty()) return unreadable(result, *error);
  std::string canonical, prev;
  StoredOutcome row;
  bool head_found = head.outcome_seq == 0 || (newest && head.outcome_seq == newest->outcome_seq);
  std::string reason;
  while (const Columns* columns = rows.outcomes->next(error)) {
    read_outcome(*columns, &row);
    int64_t seq = row.outcome.seq;
    if (seq >= 1 && seq < first_seq) continue;
    if (seq < 1 || seq > last_seq) {
      return broken(result, seq,
                    fmt::format("an outcome names record {}, which does not exist", seq));
    }
    if (row.prev == head.outcome_seq && head.outcome_seq != 0) {
      return broken(result, seq,
                    fmt::format("the outcome of record {} was added after pgwarden's last "
                                "commit (whose last outcome is that of record {})",
                                seq, head.outcome_seq));
    }
    prev = prev_outcome_hash(*columns, 11, seq, row.prev, newest, &reason);
    if (prev.empty()) return broken(result, seq, reason);
    canonical.clear();
    encode_outcome(row.prev, row.outcome, &canonical);
    if (hasher.next(prev, canonical) != row.hash) {
      return broken(result, seq, mismatch_reason(key_matches, "the outcome of this record"));
    }
    head_found = head_found || seq == head.outcome_seq;
    ++result.rows_checked;
  }
  if (!error->empty()) return unreadable(result, *error);
  if (!head_found) {
    return broken(result, head.outcome_seq,
                  fmt::format("the outcome of record {}, the last pgwarden wrote, was removed",
                              head.outcome_seq));
  }
  return result;
}

// The last record seq the writer committed; records past it, or missing up to it, are not its.
VerifyResult check_head(const VerifyResult& walked, int64_t last_seq, const ChainHead& head) {
  if (last_seq < head.record_seq) {
    return broken(walked, last_seq + 1,
                  fmt::format("records {} to {} were removed from the end of the chain",
                              last_seq + 1, head.record_seq));
  }
  if (last_seq > head.record_seq) {
    return broken(walked, head.record_seq + 1,
                  fmt::format("records {} to {} were added after pgwarden's last commit (seq {})",
                              head.record_seq + 1, last_seq, head.record_seq));
  }
  return walked;
}

// Walks one chain's records, checks them against its head, then walks its outcomes. The result
// goes on counting from `result`, the chains walked before.
VerifyResult walk_chain(ChainRows& rows, const std::string& instance, ChainHasher& hasher,
                        bool key_matches, VerifyResult result, std::string* error) {
  std::optional<Anchor> newest;
  result = walk_anchors(rows.anchors.get(), instance, hasher, key_matches, result, &newest, error);
  if (!result.ok) return result;
  int64_t last_seq = 0;
  result = walk_records(*rows.records, newest, hasher, key_matches, result, &last_seq, error);
  if (!result.ok) return result;
  result = check_head(result, last_seq, rows.head);
  if (!result.ok) return result;
  result = walk_outcomes(rows, newest, hasher, key_matches, last_seq, result, error);
  if (result.ok && newest) result.anchors.push_back(*newest);
  return result;
}

// The rows and head of a SQLite store's chain; false and `error` set if a query is refused or the
// head cannot be read.
bool sqlite_chain(sqlite3* db, const std::string& path, ChainRows* rows, std::string* error) {
  auto queries = chain_queries(false);
  std::array<std::unique_ptr<RowCursor>*, 3> cursors{&rows->records, &rows->outcomes,
                                                     &rows->forks};
  constexpr std::array<const char*, 3> kWhat{"the records", "the outcomes", "the outcomes"};
  for (size_t i = 0; i < cursors.size(); ++i) {
    Stmt stmt = prepare(db, queries[i], path, error);
    if (!stmt) return false;
    *cursors[i] = std::make_unique<SqliteCursor>(db, std::move(stmt), path, kWhat[i]);
  }
  if (has_table(db, "audit_anchor")) {
    Stmt stmt = prepare(db, fmt::format("SELECT {} FROM audit_anchor ORDER BY number",
                                        kAnchorColumns),
                        path, error);
    if (!stmt) return false;
    rows->anchors = std::make_unique<SqliteCursor>(db, std::move(stmt), path, "the anchors");
  }
  return read_head(db, path, &rows->head, error);
}

VerifyResult verify_sqlite(const std::string& path, const std::string& hmac_key,
                           std::string* error) {
  Db db = open_db(path, false, error);
  bool key_matches = true;
  ChainRows rows;
  // One read transaction: the head and every row as of one commit, while pgwarden writes.
  if (!db || !exec(db.get(), "BEGIN", path, error) || !check_schema(db.get(), path, error) ||
      !check_key(read_meta(db.get(), "chain").value_or(""),
                 read_meta(db.get(), "key_check").value_or(""), path, hmac_key, &key_matches,
                 error) ||
      !sqlite_chain(db.get(), path, &rows, error)) {
    return unreadable(VerifyResult{}, *error);
  }
  ChainHasher hasher(hmac_key);
  return walk_chain(rows, "", hasher, key_matches, VerifyResult{}, error);
}

// The store's chain kind and key check, from audit_meta.
constexpr const char* kPgMetaSql =
    "SELECT coalesce(max(value) FILTER (WHERE key = 'chain'), ''), "
    "coalesce(max(value) FILTER (WHERE key = 'key_check'), '') FROM audit_meta";

// Every instance that has a head or rows, with its head (0, 0 if it has none).
constexpr const char* kPgInstancesSql = R"sql(
SELECT i.name, coalesce(h.record_seq, 0), coalesce(h.outcome_seq, 0)
FROM (SELECT name FROM audit_instance
      UNION SELECT instance FROM audit_statement
      UNION SELECT instance FROM audit_outcome{}) i
LEFT JOIN audit_instance h ON h.name = i.name
ORDER BY i.name)sql";

// kPgInstancesSql, with the instances that have only anchors left if the store keeps anchors.
std::string instances_sql(bool has_anchors) {
  return fmt::format(kPgInstancesSql,
                     has_anchors ? "\n      UNION SELECT instance FROM audit_anchor" : "");
}

VerifyResult verify_postgres(const StoreLocation& store, const std::string& hmac_key,
                             std::string* error) {
  const PgLocation where{store.dsn, store.schema};
  const std::string what = where.describe();
  PgConn conn = open_pg_reader(where, error);
  PgResult meta = conn ? pg_exec(conn.get(), kPgMetaSql, {}, what, error) : nullptr;
  bool has_anchors = meta && has_pg_anchors(conn.get(), where, error);
  bool key_matches = true;
  PgResult instances =
      meta && check_key(pg_text(meta.get(), 0, 0), pg_text(meta.get(), 0, 1), what, hmac_key,
                        &key_matches, error)
          ? pg_exec(conn.get(), instances_sql(has_anchors), {}, what, error)
          : nullptr;
  if (!instances) return unreadable(VerifyResult{}, *error);
  auto queries = chain_queries(true);
  ChainHasher hasher(hmac_key);
  VerifyResult result;
  for (int i = 0; i < PQntuples(instances.get()); ++i) {
    result.instance = pg_text(instances.get(), i, 0);
    auto cursor = [&](const std::string& sql) {
      return std::make_unique<PgCursor>(conn.get(), sql, std::vector{result.instance}, what);
    };
    ChainRows rows{cursor(queries[0]), cursor(queries[1]), cursor(queries[2]),
                   ChainHead{pg_int(instances.get(), i, 1), pg_int(instances.get(), i, 2)},
                   has_anchors ? cursor(fmt::format("SELECT {} FROM audit_anchor WHERE instance "
                                                    "= $1 ORDER BY number",
                                                    kAnchorColumns))
                               : nullptr};
    result = walk_chain(rows, result.instance, hasher, key_matches, result, error);
    if (!result.ok) return result;
  }
  result.instance.clear();
  return result;
}

}  // namespace

VerifyResult verify_audit(const StoreLocation& store, const std::string& hmac_key,
                          std::string* error) {
  if (store.backend == Backend::postgresql) return verify_postgres(store, hmac_key, error);
  return verify_sqlite(store.path, hmac_key, error);
}

}  // namespace pgw::store
