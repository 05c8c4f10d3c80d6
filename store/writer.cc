// AuditStore: group-commits whatever callers queued, on the thread that flushes or on a writer
// thread of its own.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <span>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
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
// Without commit_on_flush: how long the writer waits for a flush() to hand over what the caller
// queued in its loop iteration before it commits the records anyway.
constexpr std::chrono::milliseconds kRecordDelay{1};
// Most commits one flush() makes, so that a loop committing for others too gets back to its own
// I/O; what is left is reported for the next flush.
constexpr int kMaxFlushRounds = 4;

struct PendingRecord {
  AuditRecord record;
  std::function<void(AppendResult)> done;
  int64_t seq = 0;  // once written
};
struct PendingOutcome {
  Outcome outcome;
};
using Pending = std::variant<PendingRecord, PendingOutcome>;

// What was appended through one lane and is not yet taken for a commit.
struct Lane {
  std::vector<Pending> queue;
  size_t records = 0;  // PendingRecords in queue
  // When the first of the outcomes in queue was queued, if any is.
  std::optional<std::chrono::steady_clock::time_point> outcomes_since;

  bool outcomes_due() const {
    return outcomes_since && std::chrono::steady_clock::now() - *outcomes_since >= kOutcomeDelay;
  }
};

// The prepared statements of the writer's connection, reused for every batch.
struct Statements {
  Stmt begin, commit, rollback, insert_session, insert_record, insert_outcome, set_head,
      record_hash, outcome_hash;
};

// What a record without a session (which callers never append) is written with.
const SessionRecord kNoSession;

// A session whose row is written: the row's id, and the session kept alive so that its address
// is not reused by another while it is in the table.
struct WrittenSession {
  SessionRef session;
  int64_t row = 0;
};

class SqliteAuditStore final : public AuditStore {
 public:
  SqliteAuditStore(const Options& options, Db db, Statements stmts)
      : path_(options.path), instance_(options.instance),
        commit_on_flush_(options.commit_on_flush), db_(std::move(db)),
        stmts_(std::move(stmts)), hasher_(options.hmac_key) {}
  ~SqliteAuditStore() override { close(); }

  bool load_head(std::string* error);
  bool start(std::string* error) {
    checkpointer_ = start_checkpointer(db_.get(), path_, error);
    if (!checkpointer_) return false;
    if (!commit_on_flush_) writer_ = std::thread([this] { run(); });
    return true;
  }

  int add_lane() override;
  void append(AuditRecord record, std::function<void(AppendResult)> done, int lane) override;
  void append_outcome(Outcome outcome, int lane) override;
  bool flush(bool outcomes_due, int lane) override;
  bool outcomes_waiting(int lane) override;
  void close() override;

 private:
  void run();
  bool wait_for_work();
  bool take(Lane& lane, std::vector<Pending>* batch, bool outcomes_due);
  bool take_all(std::vector<Pending>* batch);
  Lane& lane_locked(int lane);
  void commit_all(std::vector<Pending>* batch);
  void commit_at_close();
  void commit_batch(std::span<Pending> batch);
  bool write_batch(std::span<Pending> batch, std::string* error);
  bool write_record(PendingRecord& item, std::string* error);
  bool write_outcome(const Outcome& outcome, std::string* error);
  bool session_row(const SessionRef& session, int64_t* row, std::string* error);
  bool chain_hash(const std::string& prev, std::string* hash, std::string* error);
  bool insert_row(sqlite3_stmt* insert, int bound, std::string_view what, std::string* error);
  void forget_ended_sessions();
  bool read_hash(sqlite3_stmt* select, int64_t seq, std::string* hash, std::string* error);
  bool step_done(sqlite3_stmt* stmt, std::string_view what, std::string* error);
  void report(std::span<Pending> batch, const std::string& error);

  const std::string path_;
  const std::string instance_;
  const bool commit_on_flush_;
  // Held while a batch is written and its callbacks run: one committer at a time. Guards what
  // follows up to mu_.
  std::mutex commit_mu_;
  Db db_;
  Statements stmts_;
  CheckpointerPtr checkpointer_;
  ChainHasher hasher_;
  std::string canonical_;  // reused buffer for a row's canonical bytes
  // The ends of the two chains as committed, and while a batch is written.
  int64_t last_seq_ = 0;  // of the last committed record
  std::string last_hash_ = kGenesisHash;
  int64_t last_outcome_seq_ = 0;  // the record seq of the last committed outcome
  std::string last_outcome_hash_ = kGenesisHash;
  int64_t batch_seq_ = 0, batch_outcome_seq_ = 0;
  std::string batch_hash_, batch_outcome_hash_;
  // Sessions whose rows are committed or in the batch being written (new_sessions_).
  std::unordered_map<const SessionRecord*, WrittenSession> sessions_;
  std::vector<const SessionRecord*> new_sessions_;
  size_t sweep_at_ = 1024;  // sessions_ size at which ended sessions are forgotten
  std::vector<Pending> batch_;  // what is being committed
  std::vector<Pending> retry_;  // outcomes of failed batches, tried again with the next one
  bool retried_at_close_ = false;

  std::mutex mu_;  // guards what follows
  std::condition_variable wake_;
  std::deque<Lane> lanes_{1};
  // Without commit_on_flush: when the first record of those queued was queued, and whether a
  // flush() has handed the queues over to the writer since.
  std::optional<std::chrono::steady_clock::time_point> records_since_;
  bool handed_over_ = false;
  bool stopping_ = false;
  std::thread writer_;
};

int SqliteAuditStore::add_lane() {
  std::lock_guard lock(mu_);
  lanes_.emplace_back();
  return static_cast<int>(lanes_.size() - 1);
}

// The lane numbered `lane`; lane 0 for a number no add_lane() gave. Under mu_.
Lane& SqliteAuditStore::lane_locked(int lane) {
  return lane > 0 && static_cast<size_t>(lane) < lanes_.size() ? lanes_[lane] : lanes_[0];
}

void SqliteAuditStore::append(AuditRecord record, std::function<void(AppendResult)> done,
                              int lane) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      Lane& l = lane_locked(lane);
      l.queue.emplace_back(std::in_place_type<PendingRecord>, std::move(record), std::move(done));
      ++l.records;
      if (!commit_on_flush_ && !records_since_) {
        records_since_ = std::chrono::steady_clock::now();
        wake_.notify_one();  // the writer's wait gets a deadline
      }
      return;
    }
  }
  if (done) done(AppendResult{0, fmt::format("audit store {}: closed", path_)});
}

void SqliteAuditStore::append_outcome(Outcome outcome, int lane) {
  // SQLite keeps no NaN and may turn -0.0 into 0: store what reads back bit for bit.
  if (!std::isfinite(outcome.duration_ms) || outcome.duration_ms == 0) outcome.duration_ms = 0;
  std::lock_guard lock(mu_);
  if (stopping_) return;
  Lane& l = lane_locked(lane);
  l.queue.emplace_back(std::in_place_type<PendingOutcome>, std::move(outcome));
  if (!l.outcomes_since) {
    l.outcomes_since = std::chrono::steady_clock::now();
    if (!commit_on_flush_) wake_.notify_one();  // the writer's wait gets a deadline
  }
}

bool SqliteAuditStore::flush(bool outcomes_due, int lane) {
  if (!commit_on_flush_) {
    // The caller's iteration is over: the writer commits what it queued, as one group.
    std::lock_guard lock(mu_);
    const Lane& l = lane_locked(lane);
    if (l.records > 0 || (outcomes_due && l.outcomes_since)) {
      handed_over_ = true;
      wake_.notify_one();
    }
    return false;
  }
  // Only this lane: its callbacks run here. A caller whose lane another thread commits (lane 0,
  // shared) finds it empty afterwards; one waiting for the commit lock waits one commit at most.
  for (int round = 0; round < kMaxFlushRounds; ++round) {
    {
      std::lock_guard commit(commit_mu_);
      bool taken;
      {
        std::lock_guard lock(mu_);
        taken = take(lane_locked(lane), &batch_, outcomes_due);
      }
      if (taken) commit_all(&batch_);
    }
    std::lock_guard lock(mu_);
    if (lane_locked(lane).records == 0) return false;
  }
  return true;
}

bool SqliteAuditStore::outcomes_waiting(int lane) {
  std::lock_guard lock(mu_);
  return lane_locked(lane).outcomes_since.has_value();
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
    if (take_all(&batch_)) commit_all(&batch_);
  }
  commit_at_close();
}

// Waits until a flush() hands the queues over, or records have waited kRecordDelay, or outcomes
// kOutcomeDelay; false once stopping with nothing queued.
bool SqliteAuditStore::wait_for_work() {
  std::unique_lock lock(mu_);
  while (!stopping_ && !handed_over_) {
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (records_since_) deadline = *records_since_ + kRecordDelay;
    for (const Lane& l : lanes_) {
      if (l.outcomes_since && (!deadline || *l.outcomes_since + kOutcomeDelay < *deadline)) {
        deadline = *l.outcomes_since + kOutcomeDelay;
      }
    }
    if (!deadline) {
      wake_.wait(lock);
    } else if (wake_.wait_until(lock, *deadline) == std::cv_status::timeout) {
      break;
    }
  }
  return std::any_of(lanes_.begin(), lanes_.end(), [](const Lane& l) { return !l.queue.empty(); });
}

// Moves the outcomes to retry and what `lane` queued to the end of `batch`; false (and nothing
// moved) when the lane is empty, or holds only outcomes that are not due (by `outcomes_due` or by
// their age): outcomes to retry wait for the next append. An empty batch gets the lane's storage,
// so that appends do not allocate once the vectors have grown. Under mu_.
bool SqliteAuditStore::take(Lane& lane, std::vector<Pending>* batch, bool outcomes_due) {
  if (lane.queue.empty()) return false;
  if (lane.records == 0 && !outcomes_due && !lane.outcomes_due()) return false;
  lane.records = 0;
  lane.outcomes_since.reset();
  if (!retry_.empty()) {
    std::move(retry_.begin(), retry_.end(), std::back_inserter(*batch));
    retry_.clear();
  }
  if (batch->empty()) {
    batch->swap(lane.queue);
  } else {
    std::move(lane.queue.begin(), lane.queue.end(), std::back_inserter(*batch));
    lane.queue.clear();
  }
  return true;
}

// take() of every lane, everything due: the writer thread's and close()'s batch.
bool SqliteAuditStore::take_all(std::vector<Pending>* batch) {
  std::lock_guard lock(mu_);
  records_since_.reset();
  handed_over_ = false;
  bool any = false;
  for (Lane& l : lanes_) any = take(l, batch, true) || any;
  return any;
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
  while (take_all(&batch_)) commit_all(&batch_);
  if (retried_at_close_ || retry_.empty()) return;
  retried_at_close_ = true;
  batch_.swap(retry_);
  commit_all(&batch_);
}

void SqliteAuditStore::commit_batch(std::span<Pending> batch) {
  std::string error;
  if (!write_batch(batch, &error)) {
    if (!sqlite3_get_autocommit(db_.get())) sqlite3_step(stmts_.rollback.get());
    sqlite3_reset(stmts_.rollback.get());
    for (const SessionRecord* s : new_sessions_) sessions_.erase(s);
    std::string ignored;
    load_head(&ignored);  // the chains continue from what is really committed
  }
  new_sessions_.clear();
  report(batch, error);
  if (error.empty() && sessions_.size() >= sweep_at_) forget_ended_sessions();
}

bool SqliteAuditStore::write_batch(std::span<Pending> batch, std::string* error) {
  if (!step_done(stmts_.begin.get(), "cannot begin a transaction", error)) return false;
  batch_seq_ = last_seq_;
  batch_hash_ = last_hash_;
  batch_outcome_seq_ = last_outcome_seq_;
  batch_outcome_hash_ = last_outcome_hash_;
  for (Pending& item : batch) {
    bool ok = std::holds_alternative<PendingRecord>(item)
                  ? write_record(std::get<PendingRecord>(item), error)
                  : write_outcome(std::get<PendingOutcome>(item).outcome, error);
    if (!ok) return false;
  }
  sqlite3_bind_int64(stmts_.set_head.get(), 1, batch_seq_);
  sqlite3_bind_int64(stmts_.set_head.get(), 2, batch_outcome_seq_);
  if (!step_done(stmts_.set_head.get(), "cannot record the chain head", error)) return false;
  if (!step_done(stmts_.commit.get(), "cannot commit", error)) return false;
  last_seq_ = batch_seq_;
  last_hash_.swap(batch_hash_);
  last_outcome_seq_ = batch_outcome_seq_;
  last_outcome_hash_.swap(batch_outcome_hash_);
  return true;
}

// Inserts the record as the next of the chain, and its session's row if it has none yet.
bool SqliteAuditStore::write_record(PendingRecord& item, std::string* error) {
  const AuditRecord& record = item.record;
  int64_t session = 0;
  if (!session_row(record.session, &session, error)) return false;
  item.seq = ++batch_seq_;
  canonical_.clear();
  encode_record(item.seq, instance_, record.session ? *record.session : kNoSession, record,
                &canonical_);
  if (!chain_hash(batch_hash_, &batch_hash_, error)) return false;
  sqlite3_stmt* insert = stmts_.insert_record.get();
  return insert_row(insert, bind_record(insert, item.seq, session, record, batch_hash_),
                    fmt::format("record {}", item.seq), error);
}

// Inserts the outcome as the next of the outcome chain; one for a record that has one already is
// left out (and out of the chain).
bool SqliteAuditStore::write_outcome(const Outcome& outcome, std::string* error) {
  canonical_.clear();
  encode_outcome(batch_outcome_seq_, outcome, &canonical_);
  std::string hash;
  if (!chain_hash(batch_outcome_hash_, &hash, error)) return false;
  sqlite3_stmt* insert = stmts_.insert_outcome.get();
  if (!insert_row(insert, bind_outcome(insert, batch_outcome_seq_, outcome, hash),
                  fmt::format("the outcome of record {}", outcome.seq), error)) {
    return false;
  }
  if (sqlite3_changes(db_.get()) == 1) {
    batch_outcome_seq_ = outcome.seq;
    batch_outcome_hash_ = std::move(hash);
  }
  return true;
}

// The id of the session's row, inserting it first if it has none.
bool SqliteAuditStore::session_row(const SessionRef& session, int64_t* row, std::string* error) {
  if (auto it = sessions_.find(session.get()); it != sessions_.end()) {
    *row = it->second.row;
    return true;
  }
  sqlite3_stmt* insert = stmts_.insert_session.get();
  if (!insert_row(insert, bind_session(insert, session ? *session : kNoSession, instance_),
                  "a session", error)) {
    return false;
  }
  *row = sqlite3_last_insert_rowid(db_.get());
  sessions_.emplace(session.get(), WrittenSession{session, *row});
  new_sessions_.push_back(session.get());
  return true;
}

// The chain hash of canonical_ after `prev`, into `*hash` (which may be `prev`).
bool SqliteAuditStore::chain_hash(const std::string& prev, std::string* hash, std::string* error) {
  std::string next = hasher_.next(prev, canonical_);
  if (next.empty()) {
    *error = fmt::format("audit store {}: cannot compute the chain hash (OpenSSL)", path_);
    return false;
  }
  *hash = std::move(next);
  return true;
}

// Runs an INSERT whose values were bound with result `bound`, then clears its bindings: they
// point into the batch. `what` names the row in an error.
bool SqliteAuditStore::insert_row(sqlite3_stmt* insert, int bound, std::string_view what,
                                  std::string* error) {
  bool ok = bound == SQLITE_OK;
  if (!ok) *error = db_error(db_.get(), path_, fmt::format("cannot bind {}", what));
  ok = ok && step_done(insert, fmt::format("cannot insert {}", what), error);
  sqlite3_clear_bindings(insert);
  return ok;
}

// Drops the sessions nobody else holds any more: they will append no record.
void SqliteAuditStore::forget_ended_sessions() {
  std::erase_if(sessions_, [](const auto& entry) { return entry.second.session.use_count() == 1; });
  sweep_at_ = std::max<size_t>(1024, 2 * sessions_.size());
}

bool SqliteAuditStore::step_done(sqlite3_stmt* stmt, std::string_view what, std::string* error) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE) *error = db_error(db_.get(), path_, what);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE;
}

// Tells every caller of the batch its seq or the error; keeps failed outcomes for a retry.
void SqliteAuditStore::report(std::span<Pending> batch, const std::string& error) {
  for (Pending& item : batch) {
    if (auto* record = std::get_if<PendingRecord>(&item)) {
      if (record->done) {
        record->done(error.empty() ? AppendResult{record->seq, {}} : AppendResult{0, error});
      }
    } else if (!error.empty()) {
      if (retry_.size() < kMaxRetriedOutcomes) retry_.push_back(std::move(item));
    }
  }
}

// Reads where both chains end, as committed.
bool SqliteAuditStore::load_head(std::string* error) {
  ChainHead head;
  if (!read_head(db_.get(), path_, &head, error)) return false;
  last_seq_ = head.record_seq;
  last_outcome_seq_ = head.outcome_seq;
  return read_hash(stmts_.record_hash.get(), last_seq_, &last_hash_, error) &&
         read_hash(stmts_.outcome_hash.get(), last_outcome_seq_, &last_outcome_hash_, error);
}

// The hash of row `seq` selected by `select`; the genesis hash for seq 0.
bool SqliteAuditStore::read_hash(sqlite3_stmt* select, int64_t seq, std::string* hash,
                                 std::string* error) {
  if (seq == 0) {
    *hash = kGenesisHash;
    return true;
  }
  sqlite3_bind_int64(select, 1, seq);
  int rc = sqlite3_step(select);
  if (rc == SQLITE_ROW) *hash = column_string(select, 0);
  else *error = db_error(db_.get(), path_, fmt::format("cannot read the hash of row {} at the chain's head", seq));
  sqlite3_reset(select);
  return rc == SQLITE_ROW;
}

bool prepare_statements(sqlite3* db, const std::string& path, Statements* s,
                        std::string* error) {
  std::pair<Stmt*, const char*> all[] = {
      {&s->begin, "BEGIN IMMEDIATE"},
      {&s->commit, "COMMIT"},
      {&s->rollback, "ROLLBACK"},
      {&s->insert_session, kInsertSessionSql},
      {&s->insert_record, kInsertRecordSql},
      {&s->insert_outcome, kInsertOutcomeSql},
      {&s->set_head, "UPDATE audit_head SET record_seq = ?1, outcome_seq = ?2 WHERE id = 1"},
      {&s->record_hash, "SELECT hash FROM audit_statement WHERE seq = ?1"},
      {&s->outcome_hash, "SELECT hash FROM audit_outcome WHERE seq = ?1"},
  };
  for (auto& [stmt, sql] : all) {
    *stmt = prepare(db, sql, path, error);
    if (!*stmt) return false;
  }
  return true;
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
