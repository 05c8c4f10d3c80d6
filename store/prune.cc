// prune_audit (SPEC section 13): where a chain may be cut, the anchor that records the cut, and the
// SQLite store's side of it (its deletes, and giving the freed pages back to the file system).
#include "store/prune.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "store/chain.h"
#include "store/cursor.h"
#include "store/row.h"
#include "store/sqlite_util.h"

namespace pgw::store {
namespace {

// Where a prune may cut a chain: after record `last_seq`, whose outcomes are then the first
// `outcomes` of the outcome chain, the last of them that of record `outcome_seq`.
struct Cut {
  int64_t last_seq = 0;
  int64_t outcome_seq = 0;
  int64_t outcomes = 0;
  std::string why_short;  // why the cut stops where it does, if before the bound
  bool more = false;      // it stops at the anchor's span: another anchor may follow
};

// The furthest record up to `limit` after which both chains can be cut: the first k outcomes of
// the outcome chain (after the anchor's) are exactly those of the k records after the anchor's.
// A record without an outcome yet (running, or held) stops it, as does one whose outcome was
// written after a later record's. The chain's last outcome is kept, as its last record is.
bool walk_outcome_front(PruneTarget& target, const std::optional<Anchor>& newest, int64_t limit,
                        const ChainHead& head, Cut* cut, std::string* error) {
  int64_t after = newest ? newest->last_seq : 0;
  std::vector<std::pair<int64_t, int64_t>> links;
  if (!target.outcome_links(after, limit, &links, error)) return false;
  std::unordered_map<int64_t, int64_t> next;  // prev -> the outcome written after it
  for (auto [seq, prev] : links) next.emplace(prev, seq);
  int64_t at = newest ? newest->outcome_seq : 0, highest = after, taken = 0;
  cut->last_seq = after;
  for (auto it = next.find(at); it != next.end() && it->second != head.outcome_seq;
       it = next.find(at)) {
    at = it->second;
    highest = std::max(highest, at);
    if (highest == after + ++taken) {
      cut->last_seq = highest;
      cut->outcome_seq = at;
      cut->outcomes = taken;
    }
  }
  return true;
}

// Where the chain may be cut for `request`; cut->last_seq is the newest anchor's if nowhere.
bool find_cut(PruneTarget& target, const std::optional<Anchor>& newest, const ChainHead& head,
              const PruneRequest& request, Cut* cut, std::string* error) {
  int64_t after = newest ? newest->last_seq : 0, first_new = 0;
  if (!target.first_not_before(after, request.before_us, &first_new, error)) return false;
  int64_t limit = head.record_seq - 1;  // the chain's last record is kept
  if (first_new != 0) limit = std::min(limit, first_new - 1);
  cut->more = limit > after + request.anchor_span;
  limit = std::min(limit, after + request.anchor_span);
  if (limit <= after) {
    cut->last_seq = after;
    if (first_new != after + 1 && head.record_seq > after) {
      cut->why_short = fmt::format("record {}, the chain's last, is always kept", head.record_seq);
    }
    return true;
  }
  if (!walk_outcome_front(target, newest, limit, head, cut, error)) return false;
  cut->more = cut->more && cut->last_seq == limit;
  if (cut->last_seq < limit) {
    cut->why_short = fmt::format(
        "kept from record {}: it has no outcome yet (still running, or held for approval), or its "
        "outcome was written after a later record's (each chain is cut only at its front)",
        cut->last_seq + 1);
  }
  return true;
}

// Deletes the records first..last and their outcomes, kPruneBatch at a time.
bool delete_range(PruneTarget& target, int64_t first, int64_t last, std::string* error) {
  for (int64_t from = first; from <= last; from += kPruneBatch) {
    if (!target.delete_rows(from, std::min(last, from + kPruneBatch - 1), error)) return false;
  }
  return true;
}

// The anchor of `cut` after `newest`, hashed.
bool make_anchor(PruneTarget& target, const std::string& instance, const PruneRequest& request,
                 const std::optional<Anchor>& newest, const Cut& cut, Anchor* a,
                 std::string* error) {
  a->instance = instance;
  a->number = newest ? newest->number + 1 : 1;
  a->first_seq = newest ? newest->last_seq + 1 : 1;
  a->last_seq = cut.last_seq;
  a->before_us = request.before_us;
  a->pruned_us = request.now_us;
  a->records = a->last_seq - a->first_seq + 1;
  a->outcomes = cut.outcomes;
  a->outcome_seq = cut.outcome_seq;
  if (!target.row_hash(RowKind::record, a->last_seq, &a->record_hash, error) ||
      !target.row_hash(RowKind::outcome, a->outcome_seq, &a->outcome_hash, error)) {
    return false;
  }
  std::string canonical;
  encode_anchor(*a, &canonical);
  a->hash = ChainHasher(request.hmac_key).next(newest ? newest->hash : kGenesisHash, canonical);
  if (a->hash.empty()) *error = "cannot compute the anchor's hash (OpenSSL)";
  return !a->hash.empty();
}

// The SQLite store's one chain.
class SqliteTarget final : public PruneTarget {
 public:
  SqliteTarget(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  bool newest_anchor(std::optional<Anchor>* anchor, std::string* error) override {
    Stmt stmt = prepare(db_, fmt::format("SELECT {} FROM audit_anchor ORDER BY number DESC LIMIT 1",
                                         kAnchorColumns),
                        path_, error);
    if (!stmt) return false;
    SqliteCursor rows(db_, std::move(stmt), path_, "the anchors");
    if (const Columns* row = rows.next(error)) read_anchor(*row, &anchor->emplace());
    return error->empty();
  }
  bool head(ChainHead* head, std::string* error) override {
    return read_head(db_, path_, head, error);
  }
  bool first_not_before(int64_t after, int64_t before_us, int64_t* seq,
                        std::string* error) override {
    Stmt stmt = prepare(db_, "SELECT coalesce(min(seq), 0) FROM audit_statement WHERE seq > ?1 "
                             "AND ts_us >= ?2", path_, error);
    if (!stmt) return false;
    sqlite3_bind_int64(stmt.get(), 1, after);
    sqlite3_bind_int64(stmt.get(), 2, before_us);
    return one_integer(stmt.get(), seq, "cannot read the records' times", error);
  }
  bool outcome_links(int64_t after, int64_t through,
                     std::vector<std::pair<int64_t, int64_t>>* links,
                     std::string* error) override {
    Stmt stmt = prepare(db_, "SELECT seq, prev FROM audit_outcome WHERE seq > ?1 AND seq <= ?2",
                        path_, error);
    if (!stmt) return false;
    sqlite3_bind_int64(stmt.get(), 1, after);
    sqlite3_bind_int64(stmt.get(), 2, through);
    SqliteCursor rows(db_, std::move(stmt), path_, "the outcomes");
    while (const Columns* row = rows.next(error)) {
      links->emplace_back(row->integer(0), row->integer(1));
    }
    return error->empty();
  }
  bool row_hash(RowKind kind, int64_t seq, std::string* hash, std::string* error) override {
    Stmt stmt = prepare(db_, kind == RowKind::record
                                 ? "SELECT hash FROM audit_statement WHERE seq = ?1"
                                 : "SELECT hash FROM audit_outcome WHERE seq = ?1",
                        path_, error);
    if (!stmt) return false;
    sqlite3_bind_int64(stmt.get(), 1, seq);
    if (sqlite3_step(stmt.get()) == SQLITE_ROW) {
      *hash = column_string(stmt.get(), 0);
      return true;
    }
    *error = db_error(db_, path_, fmt::format("cannot read the hash of row {}", seq));
    return false;
  }
  bool insert_anchor(const Anchor& a, std::string* error) override {
    Stmt stmt = prepare(db_, fmt::format("INSERT INTO audit_anchor ({}) VALUES (?1, ?2, ?3, ?4, "
                                         "?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                                         kAnchorColumns),
                        path_, error);
    if (!stmt) return false;
    int i = 1;
    for (int64_t value : {a.number, a.first_seq, a.last_seq, a.before_us, a.pruned_us, a.records,
                          a.outcomes}) {
      sqlite3_bind_int64(stmt.get(), i++, value);
    }
    bind_string(stmt.get(), 8, a.record_hash, true);
    sqlite3_bind_int64(stmt.get(), 9, a.outcome_seq);
    bind_string(stmt.get(), 10, a.outcome_hash, true);
    bind_string(stmt.get(), 11, a.hash, true);
    if (sqlite3_step(stmt.get()) == SQLITE_DONE) return true;
    *error = db_error(db_, path_, fmt::format("cannot write anchor {}", a.number));
    return false;
  }
  bool delete_rows(int64_t first, int64_t last, std::string* error) override {
    std::string sql = fmt::format(
        "BEGIN IMMEDIATE; DELETE FROM audit_outcome WHERE seq BETWEEN {0} AND {1}; "
        "DELETE FROM audit_statement WHERE seq BETWEEN {0} AND {1}; COMMIT",
        first, last);
    if (exec(db_, sql.c_str(), path_, error)) return true;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }

 private:
  bool one_integer(sqlite3_stmt* stmt, int64_t* out, const char* what, std::string* error) {
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      *out = sqlite3_column_int64(stmt, 0);
      return true;
    }
    *error = db_error(db_, path_, what);
    return false;
  }

  sqlite3* db_;
  std::string path_;
};

std::string mebibytes(uintmax_t bytes) {
  if (bytes < 1048576) return fmt::format("{} KiB", (bytes + 1023) / 1024);
  return fmt::format("{:.1f} MiB", bytes / 1048576.0);
}

uintmax_t file_size(const std::string& path) {
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

int64_t pragma_integer(sqlite3* db, const char* pragma) {
  std::string ignored;
  Stmt stmt = prepare(db, pragma, "", &ignored);
  return stmt && sqlite3_step(stmt.get()) == SQLITE_ROW ? sqlite3_column_int64(stmt.get(), 0) : 0;
}

// How many free pages one transaction gives back to the file system: a few milliseconds.
constexpr int kVacuumPages = 2048;

// Gives the free pages back to the file system, a few at a time, if the store was created with
// incremental auto-vacuum (else says how to make it so); the file shrinks at the checkpoint.
bool give_back_pages(sqlite3* db, const std::string& path, uintmax_t size_before,
                     PruneResult* result, std::string* error) {
  int64_t free_pages = pragma_integer(db, "PRAGMA freelist_count");
  if (pragma_integer(db, "PRAGMA auto_vacuum") != 2) {
    result->notes.push_back(fmt::format(
        "{} was created without incremental auto-vacuum: its {} free pages ({}) are reused for new "
        "records, but the file keeps its size until it is vacuumed once, with pgwarden stopped: "
        "sqlite3 {} 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;' (later prunes then shrink it)",
        path, free_pages, mebibytes(free_pages * pragma_integer(db, "PRAGMA page_size")), path));
    return true;
  }
  std::string step = fmt::format("PRAGMA incremental_vacuum({})", kVacuumPages);
  for (int64_t left = free_pages; left > 0; left -= kVacuumPages) {
    if (!exec(db, step.c_str(), path, error)) return false;
  }
  sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  result->notes.push_back(fmt::format("{}: {} before the prune, {} now", path,
                                      mebibytes(size_before), mebibytes(file_size(path))));
  return true;
}

bool prune_sqlite(const std::string& path, const PruneRequest& request, PruneResult* result,
                  std::string* error) {
  uintmax_t size_before = file_size(path);
  Db db = open_db(path, true, error);
  if (!db || !create_schema(db.get(), path, chain_name(request.hmac_key),
                            key_check(request.hmac_key), error)) {
    return false;
  }
  SqliteTarget target(db.get(), path);
  std::string note;
  if (!prune_chain(target, "", request, &result->anchors, &note, error)) return false;
  if (!note.empty()) result->notes.push_back(note);
  return give_back_pages(db.get(), path, size_before, result, error);
}

}  // namespace

std::string describe_anchor(const Anchor& a) {
  auto count = [](int64_t n, const char* what) {
    return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s");
  };
  return fmt::format("anchor {}: records {}-{} ({}, {}) pruned before {} at {}", a.number,
                     a.first_seq, a.last_seq, count(a.records, "record"),
                     count(a.outcomes, "outcome"), format_ts(a.before_us),
                     format_ts(a.pruned_us));
}

bool prune_chain(PruneTarget& target, const std::string& instance, const PruneRequest& request,
                 std::vector<Anchor>* written, std::string* note, std::string* error) {
  std::optional<Anchor> newest;
  ChainHead head;
  if (!target.newest_anchor(&newest, error) || !target.head(&head, error)) return false;
  // A prune interrupted after its anchor was committed left some of what it covers.
  if (newest && !delete_range(target, newest->first_seq, newest->last_seq, error)) return false;
  size_t before = written->size();
  for (bool more = true; more;) {
    Cut cut;
    if (!find_cut(target, newest, head, request, &cut, error)) return false;
    *note = cut.why_short;
    if (cut.last_seq == (newest ? newest->last_seq : 0)) break;
    Anchor anchor;
    if (!make_anchor(target, instance, request, newest, cut, &anchor, error) ||
        !target.insert_anchor(anchor, error) ||
        !delete_range(target, anchor.first_seq, anchor.last_seq, error)) {
      return false;
    }
    written->push_back(anchor);
    newest = std::move(anchor);
    more = cut.more;
  }
  if (written->size() == before && note->empty()) {
    *note = fmt::format("nothing older than {} to prune", format_ts(request.before_us));
  }
  return true;
}

bool prune_audit(const StoreLocation& store, const PruneRequest& request, PruneResult* result,
                 std::string* error) {
  VerifyResult verified = verify_audit(store, request.hmac_key, error);
  if (!error->empty()) return false;
  if (!verified.ok) {
    result->chain_broken = true;
    *error = fmt::format("audit store {}: not pruned, the chain is broken{} at seq {}: {} "
                         "(verify it, and keep it as it is for investigation)",
                         store.describe(),
                         verified.instance.empty() ? "" : " (instance " + verified.instance + ")",
                         verified.bad_seq, verified.reason);
    return false;
  }
  if (store.backend == Backend::postgresql) return prune_postgres(store, request, result, error);
  return prune_sqlite(store.path, request, result, error);
}

}  // namespace pgw::store
