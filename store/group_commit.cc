// GroupCommitStore: group-commits whatever callers queued, on the thread that flushes or on a
// writer thread of its own.
#include "store/group_commit.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace pgw::store {
namespace {

// Most rows written in one transaction: a larger backlog is committed in several, which bounds a
// transaction's size and the wait of the first callers.
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

class GroupCommitStore final : public AuditStore {
 public:
  GroupCommitStore(std::unique_ptr<BatchWriter> writer, bool commit_on_flush, std::string what)
      : what_(std::move(what)), commit_on_flush_(commit_on_flush), writer_(std::move(writer)) {
    if (!commit_on_flush_) thread_ = std::thread([this] { run(); });
  }
  ~GroupCommitStore() override { close(); }

  int add_lane() override;
  void append(AuditRecord record, std::function<void(AppendResult)> done, int lane) override;
  void append_outcome(Outcome outcome, int lane) override;
  bool flush(bool outcomes_due, int lane) override;
  bool outcomes_waiting(int lane) override;
  void close() override;
  uint64_t failed_commits() override;
  bool writable() override;

 private:
  void run();
  bool wait_for_work();
  bool take(Lane& lane, std::vector<Pending>* batch, bool outcomes_due);
  bool take_all(std::vector<Pending>* batch);
  Lane& lane_locked(int lane);
  void commit_all(std::vector<Pending>* batch);
  void commit_at_close();
  void report(std::span<Pending> batch, const std::string& error);

  const std::string what_;
  const bool commit_on_flush_;
  // Held while a batch is written and its callbacks run: one committer at a time. Guards what
  // follows up to mu_.
  std::mutex commit_mu_;
  std::unique_ptr<BatchWriter> writer_;
  std::vector<Pending> batch_;  // what is being committed
  std::vector<Pending> retry_;  // outcomes of failed batches, tried again with the next one
  bool closed_ = false;

  std::mutex mu_;  // guards what follows
  std::condition_variable wake_;
  std::deque<Lane> lanes_{1};
  // Without commit_on_flush: when the first record of those queued was queued, and whether a
  // flush() has handed the queues over to the writer since.
  std::optional<std::chrono::steady_clock::time_point> records_since_;
  bool handed_over_ = false;
  bool stopping_ = false;
  std::thread thread_;

  // How commits went, read by monitoring from any thread.
  std::atomic<uint64_t> failed_commits_{0};
  std::atomic<bool> failing_{false};  // the latest commit failed
};

int GroupCommitStore::add_lane() {
  std::lock_guard lock(mu_);
  lanes_.emplace_back();
  return static_cast<int>(lanes_.size() - 1);
}

// The lane numbered `lane`; lane 0 for a number no add_lane() gave. Under mu_.
Lane& GroupCommitStore::lane_locked(int lane) {
  return lane > 0 && static_cast<size_t>(lane) < lanes_.size() ? lanes_[lane] : lanes_[0];
}

void GroupCommitStore::append(AuditRecord record, std::function<void(AppendResult)> done,
                              int lane) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      Lane& l = lane_locked(lane);
      l.queue.emplace_back(PendingRecord{std::move(record), std::move(done)});
      ++l.records;
      if (!commit_on_flush_ && !records_since_) {
        records_since_ = std::chrono::steady_clock::now();
        wake_.notify_one();  // the writer's wait gets a deadline
      }
      return;
    }
  }
  if (done) done(AppendResult{0, fmt::format("audit store {}: closed", what_)});
}

void GroupCommitStore::append_outcome(Outcome outcome, int lane) {
  // SQLite keeps no NaN and may turn -0.0 into 0: store what reads back bit for bit.
  if (!std::isfinite(outcome.duration_ms) || outcome.duration_ms == 0) outcome.duration_ms = 0;
  std::lock_guard lock(mu_);
  if (stopping_) return;
  Lane& l = lane_locked(lane);
  l.queue.emplace_back(PendingOutcome{std::move(outcome)});
  if (!l.outcomes_since) {
    l.outcomes_since = std::chrono::steady_clock::now();
    if (!commit_on_flush_) wake_.notify_one();  // the writer's wait gets a deadline
  }
}

bool GroupCommitStore::flush(bool outcomes_due, int lane) {
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

bool GroupCommitStore::outcomes_waiting(int lane) {
  std::lock_guard lock(mu_);
  return lane_locked(lane).outcomes_since.has_value();
}

void GroupCommitStore::close() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard commit(commit_mu_);
  if (closed_) return;
  closed_ = true;
  commit_at_close();
  writer_->close();
}

uint64_t GroupCommitStore::failed_commits() { return failed_commits_.load(std::memory_order_relaxed); }

bool GroupCommitStore::writable() {
  if (!failing_.load(std::memory_order_relaxed)) return true;
  std::lock_guard commit(commit_mu_);
  if (closed_) return false;
  std::string error;
  bool ok = writer_->write_batch({}, &error);
  failing_.store(!ok, std::memory_order_relaxed);
  return ok;
}

void GroupCommitStore::run() {
  while (wait_for_work()) {
    if (take_all(&batch_)) {
      std::lock_guard commit(commit_mu_);
      commit_all(&batch_);
    }
  }
}

// Waits until a flush() hands the queues over, or records have waited kRecordDelay, or outcomes
// kOutcomeDelay; false once stopping.
bool GroupCommitStore::wait_for_work() {
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
  return !stopping_;
}

// Moves the outcomes to retry and what `lane` queued to the end of `batch`; false (and nothing
// moved) when the lane is empty, or holds only outcomes that are not due (by `outcomes_due` or by
// their age): outcomes to retry wait for the next append. An empty batch gets the lane's storage,
// so that appends do not allocate once the vectors have grown. Under mu_.
bool GroupCommitStore::take(Lane& lane, std::vector<Pending>* batch, bool outcomes_due) {
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
bool GroupCommitStore::take_all(std::vector<Pending>* batch) {
  std::lock_guard lock(mu_);
  records_since_.reset();
  handed_over_ = false;
  bool any = false;
  for (Lane& l : lanes_) any = take(l, batch, true) || any;
  return any;
}

// Commits `batch` in transactions of at most kMaxBatch rows, reports, and empties it. Under
// commit_mu_.
void GroupCommitStore::commit_all(std::vector<Pending>* batch) {
  for (size_t start = 0; start < batch->size(); start += kMaxBatch) {
    auto part = std::span(*batch).subspan(start, std::min(kMaxBatch, batch->size() - start));
    std::string error;
    bool ok = writer_->write_batch(part, &error);
    failing_.store(!ok, std::memory_order_relaxed);
    if (!ok) failed_commits_.fetch_add(1, std::memory_order_relaxed);
    report(part, error);
  }
  batch->clear();
}

// Commits what is still queued, then gives failed outcomes one last try. Under commit_mu_.
void GroupCommitStore::commit_at_close() {
  while (take_all(&batch_)) commit_all(&batch_);
  if (retry_.empty()) return;
  batch_.swap(retry_);
  commit_all(&batch_);
  retry_.clear();
}

// Tells every caller of the batch its seq or the error; keeps failed outcomes for a retry.
void GroupCommitStore::report(std::span<Pending> batch, const std::string& error) {
  for (Pending& item : batch) {
    if (auto* record = std::get_if<PendingRecord>(&item)) {
      if (record->done) {
        record->done(error.empty() ? AppendResult{record->seq, {}, record->approval_id}
                                   : AppendResult{0, error});
      }
    } else if (!error.empty()) {
      if (retry_.size() < kMaxRetriedOutcomes) retry_.push_back(std::move(item));
    }
  }
}

}  // namespace

std::optional<int64_t> SessionRows::find(const SessionRecord* session) const {
  auto it = rows_.find(session);
  if (it == rows_.end()) return std::nullopt;
  return it->second.second;
}

void SessionRows::add(SessionRef session, int64_t row) {
  const SessionRecord* key = session.get();
  added_.push_back(key);
  rows_.emplace(key, std::pair{std::move(session), row});
}

void SessionRows::committed() {
  added_.clear();
  if (rows_.size() < sweep_at_) return;
  std::erase_if(rows_, [](const auto& entry) { return entry.second.first.use_count() == 1; });
  sweep_at_ = std::max<size_t>(1024, 2 * rows_.size());
}

void SessionRows::rolled_back() {
  for (const SessionRecord* s : added_) rows_.erase(s);
  added_.clear();
}

std::unique_ptr<AuditStore> make_group_commit_store(std::unique_ptr<BatchWriter> writer,
                                                    bool commit_on_flush, std::string what) {
  return std::make_unique<GroupCommitStore>(std::move(writer), commit_on_flush, std::move(what));
}

}  // namespace pgw::store
