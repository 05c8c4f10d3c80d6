// AuditStore: group-commits whatever callers queued, on the thread that flushes or on a writer
// thread of its own.
#include <fmt/format.h>

#include <cmath>
#include <condition_variable>
#include <span>
#include <mutex>
#include <thread>
#include <variant>

#include "store/audit.h"
#include "store/chain.h"
#include "store/checkpoint.h"
#include "store/row.h"
#include "store/schema.h"
#include "store/wal_writes.h"

namespace pgw::store {
namespace {

// Most rows written in one transaction: a larger backlog is committed in several, which bounds a
// transaction's WAL growth and the wait of the first callers.
constexpr size_t kMaxBatch = 16384;
// Most outcomes of failed batches kept for a retry; beyond, they are dropped. Statements are
// refused while the store fails, so only those already running add outcomes.
constexpr size_t kMaxRetriedOutcomes = 65536;
// Most commits one flush() makes, so that a loop committing for others too gets back to its own
// I/O; what is left is reported for the next flush.
constexpr int kMaxFlushRounds = 4;

struct PendingRecord {
  AuditRecord record;
  std::function<void(AppendResult)> done;
};
struct PendingOutcome {
  Outcome outcome;
};
using Pending = std::variant<PendingRecord, PendingOutcome>;

// The prepared statements of the writer's connection, reused for every batch.
struct Statements {
  Stmt begin, commit, rollback, insert_record, insert_outcome, set_head, last_row;
};

class SqliteAuditStore final : public AuditStore {
 public:
  SqliteAuditStore(const Options& options, Db db, Statements stmts)
      : path_(options.path), commit_on_flush_(options.commit_on_flush), db_(std::move(db)),
        stmts_(std::move(stmts)), hasher_(options.hmac_key) {}
  ~SqliteAuditStore() override { close(); }

  bool load_head(std::string* error);
  bool start(std::string* error) {
    checkpointer_ = start_checkpointer(db_.get(), path_, error);
    if (!checkpointer_) return false;
    if (!commit_on_flush_) writer_ = std::thread([this] { run(); });
    return true;
  }

  void append(AuditRecord record, std::function<void(AppendResult)> done) override;
  void append_outcome(Outcome outcome) override;
  bool flush() override;
  void close() override;

 private:
  void run();
  bool wait_for_work();
  bool take(std::vector<Pending>* batch);
  void commit_all(std::vector<Pending>* batch);
  void commit_at_close();
  void commit_batch(std::span<Pending> batch);
  bool write_batch(std::span<Pending> batch, std::string* error);
  bool write_row(Pending& item, int64_t seq, std::string* hash, std::string* error);
  bool step_done(sqlite3_stmt* stmt, std::string_view what, std::string* error);
  void report(std::span<Pending> batch, int64_t first_seq, const std::string& error);

  const std::string path_;
  const bool commit_on_flush_;
  // Held while a batch is written and its callbacks run: one committer at a time. Guards what
  // follows up to mu_.
  std::mutex commit_mu_;
  Db db_;
  Statements stmts_;
  CheckpointerPtr checkpointer_;
  ChainHasher hasher_;
  std::string canonical_;  // reused buffer for a row's canonical bytes
  int64_t last_seq_ = 0;   // of the last committed row
  std::string last_hash_ = kGenesisHash;
  std::vector<Pending> batch_;  // what is being committed
  std::vector<Pending> retry_;  // outcomes of failed batches, tried again with the next one
  bool retried_at_close_ = false;

  std::mutex mu_;  // guards what follows
  std::condition_variable wake_;
  std::vector<Pending> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

void SqliteAuditStore::append(AuditRecord record, std::function<void(AppendResult)> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.emplace_back(std::in_place_type<PendingRecord>, std::move(record), std::move(done));
      if (!commit_on_flush_) wake_.notify_one();
      return;
    }
  }
  if (done) done(AppendResult{0, fmt::format("audit store {}: closed", path_)});
}

void SqliteAuditStore::append_outcome(Outcome outcome) {
  // SQLite keeps no NaN and may turn -0.0 into 0: store what reads back bit for bit.
  if (!std::isfinite(outcome.duration_ms) || outcome.duration_ms == 0) outcome.duration_ms = 0;
  std::lock_guard lock(mu_);
  if (stopping_) return;
  queue_.emplace_back(std::in_place_type<PendingOutcome>, std::move(outcome));
  if (!commit_on_flush_) wake_.notify_one();
}

bool SqliteAuditStore::flush() {
  if (!commit_on_flush_) return false;
  // A caller that finds another committing does not wait: the committer looks at the queue again
  // after letting go, and commits what was queued meanwhile (or leaves it to whoever got in).
  for (int round = 0; round < kMaxFlushRounds; ++round) {
    {
      std::unique_lock commit(commit_mu_, std::try_to_lock);
      if (!commit.owns_lock()) return false;
      if (take(&batch_)) commit_all(&batch_);
    }
    std::lock_guard lock(mu_);
    if (queue_.empty()) return false;
  }
  return true;
}

void SqliteAuditStore::close() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (writer_.joinable()) {
    writer_.join();
  } else if (commit_on_flush_) {
    std::lock_guard commit(commit_mu_);
    commit_at_close();
  }
  checkpointer_.reset();
}

void SqliteAuditStore::run() {
  while (wait_for_work()) {
    if (take(&batch_)) commit_all(&batch_);
  }
  commit_at_close();
}

// Waits until something is queued; false once stopping with nothing queued.
bool SqliteAuditStore::wait_for_work() {
  std::unique_lock lock(mu_);
  wake_.wait(lock, [this] { return !queue_.empty() || stopping_; });
  return !queue_.empty();
}

// Moves the outcomes to retry and everything queued into the empty `batch`; false (and nothing
// moved) when nothing is queued: outcomes to retry wait for the next append. The queue gets the
// batch's storage back, so that appends do not allocate once the vectors have grown.
bool SqliteAuditStore::take(std::vector<Pending>* batch) {
  std::lock_guard lock(mu_);
  if (queue_.empty()) return false;
  if (retry_.empty()) {
    batch->swap(queue_);
    return true;
  }
  batch->swap(retry_);
  std::move(queue_.begin(), queue_.end(), std::back_inserter(*batch));
  queue_.clear();
  return true;
}

// Commits `batch` in transactions of at most kMaxBatch rows and empties it.
void SqliteAuditStore::commit_all(std::vector<Pending>* batch) {
  for (size_t start = 0; start < batch->size(); start += kMaxBatch) {
    commit_batch(std::span(*batch).subspan(start, std::min(kMaxBatch, batch->size() - start)));
  }
  batch->clear();
}

// Commits what is still queued, then gives failed outcomes one last try.
void SqliteAuditStore::commit_at_close() {
  while (take(&batch_)) commit_all(&batch_);
  if (retried_at_close_ || retry_.empty()) return;
  retried_at_close_ = true;
  batch_.swap(retry_);
  commit_all(&batch_);
}

void SqliteAuditStore::commit_batch(std::span<Pending> batch) {
  int64_t first_seq = last_seq_ + 1;
  std::string error;
  if (!write_batch(batch, &error)) {
    if (!sqlite3_get_autocommit(db_.get())) sqlite3_step(stmts_.rollback.get());
    sqlite3_reset(stmts_.rollback.get());
    std::string ignored;
    load_head(&ignored);  // the chain continues from what is really committed
  }
  report(batch, first_seq, error);
}

bool SqliteAuditStore::write_batch(std::span<Pending> batch, std::string* error) {
  if (!step_done(stmts_.begin.get(), "cannot begin a transaction", error)) return false;
  int64_t seq = last_seq_;
  std::string hash = last_hash_;
  for (Pending& item : batch) {
    if (!write_row(item, ++seq, &hash, error)) return false;
  }
  sqlite3_bind_int64(stmts_.set_head.get(), 1, seq);
  if (!step_done(stmts_.set_head.get(), "cannot record the chain head", error)) return false;
  if (!step_done(stmts_.commit.get(), "cannot commit", error)) return false;
  last_seq_ = seq;
  last_hash_ = std::move(hash);
  return true;
}

// Inserts one row chained to `*hash`, which becomes the row's own hash.
bool SqliteAuditStore::write_row(Pending& item, int64_t seq, std::string* hash,
                                 std::string* error) {
  canonical_.clear();
  auto* pending_record = std::get_if<PendingRecord>(&item);
  if (pending_record) {
    encode_record(seq, pending_record->record, &canonical_);
  } else {
    encode_outcome(seq, std::get<PendingOutcome>(item).outcome, &canonical_);
  }
  std::string next = hasher_.next(*hash, canonical_);
  if (next.empty()) {
    *error = fmt::format("audit store {}: cannot compute the chain hash (OpenSSL)", path_);
    return false;
  }
  *hash = std::move(next);
  sqlite3_stmt* insert =
      pending_record ? stmts_.insert_record.get() : stmts_.insert_outcome.get();
  int rc = pending_record
               ? bind_record(insert, seq, pending_record->record, *hash)
               : bind_outcome(insert, seq, std::get<PendingOutcome>(item).outcome, *hash);
  if (rc != SQLITE_OK) {
    *error = db_error(db_.get(), path_, fmt::format("cannot bind row {}", seq));
    sqlite3_clear_bindings(insert);
    return false;
  }
  bool ok = step_done(insert, "cannot insert a row", error);
  sqlite3_clear_bindings(insert);  // the bindings point into the batch
  return ok;
}

bool SqliteAuditStore::step_done(sqlite3_stmt* stmt, std::string_view what, std::string* error) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE) *error = db_error(db_.get(), path_, what);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE;
}

// Tells every caller of the batch its seq or the error; keeps failed outcomes for a retry.
void SqliteAuditStore::report(std::span<Pending> batch, int64_t first_seq,
                              const std::string& error) {
  int64_t seq = first_seq;
  for (Pending& item : batch) {
    if (auto* record = std::get_if<PendingRecord>(&item)) {
      if (record->done) {
        record->done(error.empty() ? AppendResult{seq, {}} : AppendResult{0, error});
      }
    } else if (!error.empty()) {
      if (retry_.size() < kMaxRetriedOutcomes) retry_.push_back(std::move(item));
    }
    ++seq;
  }
}

// Reads the seq and hash of the last committed row, where the chain continues.
bool SqliteAuditStore::load_head(std::string* error) {
  sqlite3_stmt* stmt = stmts_.last_row.get();
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    last_seq_ = sqlite3_column_int64(stmt, 0);
    last_hash_ = column_string(stmt, 1);
  } else if (rc == SQLITE_DONE) {
    last_seq_ = 0;
    last_hash_ = kGenesisHash;
  } else {
    *error = db_error(db_.get(), path_, "cannot read the last row");
  }
  sqlite3_reset(stmt);
  return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

bool prepare_statements(sqlite3* db, const std::string& path, Statements* s,
                        std::string* error) {
  s->begin = prepare(db, "BEGIN IMMEDIATE", path, error);
  if (s->begin) s->commit = prepare(db, "COMMIT", path, error);
  if (s->commit) s->rollback = prepare(db, "ROLLBACK", path, error);
  if (s->rollback) s->insert_record = prepare(db, kInsertRecordSql, path, error);
  if (s->insert_record) s->insert_outcome = prepare(db, kInsertOutcomeSql, path, error);
  if (s->insert_outcome) {
    s->set_head = prepare(
        db, fmt::format("UPDATE audit_meta SET value = ?1 WHERE key = '{}'", kHeadSeqKey), path,
        error);
  }
  if (s->set_head) {
    s->last_row = prepare(db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", path,
                          error);
  }
  return s->last_row != nullptr;
}

bool set_pragmas(sqlite3* db, const Options& options, std::string* error) {
  // 4 KiB pages (no effect on an existing store, whose page size is fixed): 1 KiB pages, fewer
  // bytes per commit, measured no faster; the system calls of a commit cost, not its bytes.
  if (!exec(db, "PRAGMA page_size=4096", options.path, error)) return false;
  Stmt wal = prepare(db, "PRAGMA journal_mode=WAL", options.path, error);
  if (!wal) return false;
  if (sqlite3_step(wal.get()) != SQLITE_ROW || column_string(wal.get(), 0) != "wal") {
    *error = db_error(db, options.path, "cannot switch to WAL mode");
    return false;
  }
  const char* sync = options.durability == Durability::fsync ? "PRAGMA synchronous=FULL"
                                                             : "PRAGMA synchronous=NORMAL";
  // A batch fits in the page cache (64 MiB) and never spills to the WAL before its commit, so
  // that each commit's frames are written once, in order, as wal_writes.h expects.
  return exec(db, sync, options.path, error) &&
         exec(db, "PRAGMA cache_size=-65536", options.path, error) &&
         exec(db, "PRAGMA cache_spill=OFF", options.path, error);
}

}  // namespace

std::unique_ptr<AuditStore> AuditStore::open(const Options& options, std::string* error) {
  Db db = open_db(options.path, true, error, wal_writes_vfs());
  if (!db || !set_pragmas(db.get(), options, error) ||
      !create_schema(db.get(), options.path, chain_name(options.hmac_key),
                     key_check(options.hmac_key), error)) {
    return nullptr;
  }
  Statements stmts;
  if (!prepare_statements(db.get(), options.path, &stmts, error)) return nullptr;
  auto store = std::make_unique<SqliteAuditStore>(options, std::move(db), std::move(stmts));
  if (!store->load_head(error) || !store->start(error)) return nullptr;
  return store;
}

}  // namespace pgw::store
