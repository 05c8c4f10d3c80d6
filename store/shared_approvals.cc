// PgSharedApprovals: one thread, one connection LISTENing on the store's channel; the callers'
// requests (lists, votes) are queued to it and answered through callbacks.
#include "store/shared_approvals.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "store/approval_reader.h"
#include "store/pg_schema.h"
#include "store/pg_util.h"

namespace pgw::store {
namespace {

using Clock = std::chrono::steady_clock;

// How often votes are read even without a notification (one may be lost while reconnecting), and
// how long a failed connection waits before the next attempt.
constexpr std::chrono::seconds kPollVotes{1};
// How often the requests of other instances are checked for a holder that is gone. An instance
// is taken for gone only when found so twice in a row: its connections drop for a moment when the
// store restarts.
constexpr std::chrono::seconds kCheckHolders{5};

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The votes cast on this instance's requests since the last one read.
constexpr const char* kSelectVotes = R"sql(
SELECT v.id, a.id, a.seq, v.verdict, v.principal, v.reason, v.from_instance
FROM approval_vote v JOIN approval a ON a.id = v.approval
WHERE a.instance = $1 AND v.id > $2
ORDER BY v.id)sql";

// The instances other than $1 holding requests that are pending and not yet withdrawn.
constexpr const char* kSelectHolders = R"sql(
SELECT DISTINCT a.instance
FROM approval a
JOIN audit_statement r ON r.instance = a.instance AND r.seq = a.seq
WHERE a.instance <> $1 AND r.expires_us > $2
  AND NOT EXISTS (SELECT 1 FROM audit_outcome o WHERE o.instance = a.instance AND o.seq = a.seq)
  AND NOT EXISTS (SELECT 1 FROM approval_vote v WHERE v.approval = a.id AND v.verdict = 'withdraw'))sql";

// Withdraws the pending requests of instance $1, noticed gone by $2 (a request whose record was
// pruned was settled: a prune keeps every record without an outcome).
constexpr const char* kWithdrawAll = R"sql(
INSERT INTO approval_vote (approval, verdict, principal, reason, from_instance, ts_us)
SELECT a.id, 'withdraw', $2, 'the instance holding it (' || $1 || ') is gone', $2, $3
FROM approval a
JOIN audit_statement r ON r.instance = a.instance AND r.seq = a.seq
WHERE a.instance = $1
  AND NOT EXISTS (SELECT 1 FROM audit_outcome o WHERE o.instance = a.instance AND o.seq = a.seq)
  AND NOT EXISTS (SELECT 1 FROM approval_vote v WHERE v.approval = a.id AND v.verdict = 'withdraw'))sql";

constexpr const char* kInsertVote = R"sql(
INSERT INTO approval_vote (approval, verdict, principal, reason, from_instance, ts_us)
VALUES ($1, $2, $3, $4, $5, $6))sql";

class PgSharedApprovals final : public SharedApprovals {
 public:
  PgSharedApprovals(const Options& options, std::function<void(const Vote&)> on_vote)
      : where_{options.dsn, options.schema}, what_(where_.describe()), instance_(options.instance),
        on_vote_(std::move(on_vote)), wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~PgSharedApprovals() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake();
    if (thread_.joinable()) thread_.join();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  bool start(std::string* error);
  void list(bool pending_only,
            std::function<void(std::vector<ApprovalRow>, std::string)> done) override;
  void cast(Vote vote, std::function<std::string(const ApprovalRow&)> check,
            std::function<void(Cast)> done) override;
  std::vector<int64_t> orphaned() const override { return orphaned_; }

 private:
  void run();
  bool connect(std::string* error);
  void post(std::function<void()> task);
  void wake();
  void run_tasks();
  void wait_for_events(Clock::time_point until);
  void read_votes();
  void check_holders();
  bool read_approvals(int64_t id, std::vector<ApprovalRow>* out, std::string* error);

  const PgLocation where_;
  const std::string what_;
  const std::string instance_;
  const std::function<void(const Vote&)> on_vote_;
  const int wake_fd_;
  PgConn conn_;
  int64_t last_vote_ = 0;  // the last vote read
  std::vector<int64_t> orphaned_;
  std::map<std::string, int> seen_gone_;  // instance -> checks in a row that found it gone
  Clock::time_point next_check_{};

  std::mutex mu_;  // guards what follows
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

bool PgSharedApprovals::start(std::string* error) {
  if (wake_fd_ < 0) {
    *error = fmt::format("audit store {}: cannot make an eventfd", what_);
    return false;
  }
  if (!connect(error)) return false;
  PgResult last = pg_exec(conn_.get(), "SELECT coalesce(max(id), 0) FROM approval_vote", {},
                          what_, error);
  // Held by this instance and not settled in its chain: its earlier run ended first (a record
  // pruned had its outcome).
  PgResult orphans = pg_exec(conn_.get(),
                             "SELECT a.seq FROM approval a JOIN audit_statement r ON r.instance = "
                             "a.instance AND r.seq = a.seq WHERE a.instance = $1 AND NOT EXISTS "
                             "(SELECT 1 FROM audit_outcome o WHERE o.instance = a.instance AND "
                             "o.seq = a.seq) ORDER BY a.seq",
                             {instance_}, what_, error);
  if (!last || !orphans) return false;
  last_vote_ = pg_int(last.get(), 0, 0);
  for (int row = 0; row < PQntuples(orphans.get()); ++row) {
    orphaned_.push_back(pg_int(orphans.get(), row, 0));
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

bool PgSharedApprovals::connect(std::string* error) {
  conn_ = pg_connect(where_.dsn, what_, error);
  bool ok = conn_ && pg_bound_statements(conn_.get(), what_, error) &&
            check_pg_schema(conn_.get(), where_, error) &&
            announce_live(conn_.get(), where_, instance_, error) &&
            pg_exec(conn_.get(), "LISTEN " + pg_ident(conn_.get(), approvals_channel(where_)), {},
                    what_, error);
  if (!ok) conn_.reset();
  return ok;
}

void PgSharedApprovals::post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  wake();
}

void PgSharedApprovals::wake() {
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

void PgSharedApprovals::list(bool pending_only,
                             std::function<void(std::vector<ApprovalRow>, std::string)> done) {
  post([this, pending_only, done = std::move(done)] {
    std::vector<ApprovalRow> all, out;
    std::string error;
    if (!read_approvals(0, &all, &error)) return done({}, error);
    for (ApprovalRow& a : all) {
      if (!pending_only || a.state == "pending") out.push_back(std::move(a));
    }
    done(std::move(out), "");
  });
}

void PgSharedApprovals::cast(Vote vote, std::function<std::string(const ApprovalRow&)> check,
                             std::function<void(Cast)> done) {
  post([this, vote = std::move(vote), check = std::move(check), done = std::move(done)] {
    std::vector<ApprovalRow> found;
    std::string error;
    if (!read_approvals(vote.approval_id, &found, &error)) return done(Cast{error, false, true});
    if (found.empty()) return done(Cast{fmt::format("no approval with id {}", vote.approval_id)});
    const ApprovalRow& a = found.front();
    if (a.state != "pending") {
      return done(Cast{fmt::format("approval {} is already {}", a.id, a.state)});
    }
    if (std::string refused = check(a); !refused.empty()) return done(Cast{refused, true});
    bool ok = pg_exec(conn_.get(), kInsertVote,
                      {std::to_string(a.id), vote.verdict, vote.principal, vote.reason,
                       instance_, std::to_string(wall_us())},
                      what_, &error) &&
              pg_exec(conn_.get(), "SELECT pg_catalog.pg_notify($1, $2)",
                      {approvals_channel(where_), a.instance}, what_, &error);
    done(ok ? Cast{} : Cast{error, false, true});
  });
}

// Reads the request `id` (every request for 0) with its state as of now, on one snapshot.
bool PgSharedApprovals::read_approvals(int64_t id, std::vector<ApprovalRow>* out,
                                       std::string* error) {
  if (!conn_ && !connect(error)) return false;
  bool ok = pg_exec(conn_.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}, what_,
                    error) &&
            read_pg_approvals(conn_.get(), what_, id, false, wall_us(), out, error);
  std::string ignored;
  pg_exec(conn_.get(), ok ? "COMMIT" : "ROLLBACK", {}, what_, &ignored);
  if (!ok && PQstatus(conn_.get()) != CONNECTION_OK) conn_.reset();
  return ok;
}

void PgSharedApprovals::run() {
  Clock::time_point next_read = Clock::now();
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    std::string error;
    if (!conn_ && !connect(&error)) {
      run_tasks();  // each fails with the store's error
      wait_for_events(Clock::now() + kPollVotes);
      continue;
    }
    run_tasks();
    if (Clock::now() >= next_read) {
      read_votes();
      next_read = Clock::now() + kPollVotes;
    }
    if (conn_ && Clock::now() >= next_check_) {
      check_holders();
      next_check_ = Clock::now() + kCheckHolders;
    }
    wait_for_events(next_read);
    if (!conn_) continue;
    if (!PQconsumeInput(conn_.get())) {
      conn_.reset();
      continue;
    }
    bool notified = false;
    while (PGnotify* n = PQnotifies(conn_.get())) {
      notified = notified || instance_ == n->extra;
      PQfreemem(n);
    }
    if (notified) next_read = Clock::now();
  }
}

void PgSharedApprovals::run_tasks() {
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard lock(mu_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) task();
}

// Waits for a notification, a queued task or `until`.
void PgSharedApprovals::wait_for_events(Clock::time_point until) {
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {conn_ ? PQsocket(conn_.get()) : -1, POLLIN, 0}};
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
  if (poll(fds, 2, static_cast<int>(std::max<int64_t>(0, left.count()))) > 0 &&
      (fds[0].revents & POLLIN)) {
    uint64_t count;
    (void)!::read(wake_fd_, &count, sizeof count);
  }
}

// Hands the votes cast since the last one read to on_vote.
void PgSharedApprovals::read_votes() {
  std::string error;
  PgResult res = pg_exec(conn_.get(), kSelectVotes, {instance_, std::to_string(last_vote_)},
                         what_, &error);
  if (!res) {
    if (PQstatus(conn_.get()) != CONNECTION_OK) conn_.reset();
    return;
  }
  for (int row = 0; row < PQntuples(res.get()); ++row) {
    last_vote_ = pg_int(res.get(), row, 0);
    Vote v;
    v.approval_id = pg_int(res.get(), row, 1);
    v.seq = pg_int(res.get(), row, 2);
    v.verdict = pg_text(res.get(), row, 3);
    v.principal = pg_text(res.get(), row, 4);
    v.reason = pg_text(res.get(), row, 5);
    v.from_instance = pg_text(res.get(), row, 6);
    on_vote_(v);
  }
}

// Withdraws the pending requests of instances found gone twice in a row.
void PgSharedApprovals::check_holders() {
  std::string error;
  PgResult res = pg_exec(conn_.get(), kSelectHolders, {instance_, std::to_string(wall_us())},
                         what_, &error);
  if (!res) return;
  std::map<std::string, int> gone;
  for (int row = 0; row < PQntuples(res.get()); ++row) {
    std::string holder = pg_text(res.get(), row, 0);
    std::optional<bool> live = instance_live(conn_.get(), where_, holder, &error);
    if (!live || *live) continue;
    int times = seen_gone_[holder] + 1;
    if (times < 2) {
      gone[holder] = times;
      continue;
    }
    if (pg_exec(conn_.get(), kWithdrawAll, {holder, instance_, std::to_string(wall_us())}, what_,
                &error)) {
      pg_exec(conn_.get(), "SELECT pg_catalog.pg_notify($1, $2)",
              {approvals_channel(where_), holder}, what_, &error);
    }
  }
  seen_gone_ = std::move(gone);
}

}  // namespace

std::unique_ptr<SharedApprovals> SharedApprovals::open(const Options& options,
                                                       std::function<void(const Vote&)> on_vote,
                                                       std::string* error) {
  auto shared = std::make_unique<PgSharedApprovals>(options, std::move(on_vote));
  if (!shared->start(error)) return nullptr;
  return shared;
}

}  // namespace pgw::store
