#include "store/checkpoint.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "store/schema.h"
#include "store/sqlite_util.h"

namespace pgw::store {
namespace {

// WAL pages after which a checkpoint is asked for: SQLite's own default threshold.
constexpr int kCheckpointPages = 1000;
// WAL pages after which the committing connection checkpoints itself, as SQLite would have: the
// thread has fallen far behind (or keeps failing), and the WAL must not grow without bound.
constexpr int kInlineCheckpointPages = 64 * kCheckpointPages;

}  // namespace

class Checkpointer {
 public:
  Checkpointer(sqlite3* writer, Db own) : writer_(writer), own_(std::move(own)) {}

  void start() { thread_ = std::thread([this] { run(); }); }

  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  // The writer connection's WAL hook, run after each of its commits. The thread copies the bulk
  // of the WAL; the writer then copies the few frames committed meanwhile itself, because SQLite
  // starts the WAL afresh only when a writer begins with every frame copied, which a thread
  // racing the commits would seldom achieve.
  static int on_commit(void* self, sqlite3* db, const char* schema, int wal_pages) {
    auto* c = static_cast<Checkpointer*>(self);
    if (c->bulk_done_.exchange(false) || wal_pages >= kInlineCheckpointPages) {
      sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (wal_pages >= kCheckpointPages) {
      c->ask();
    }
    return SQLITE_OK;
  }

  sqlite3* writer() const { return writer_; }

 private:
  void ask() {
    {
      std::lock_guard lock(mu_);
      asked_ = true;
    }
    wake_.notify_one();
  }

  void run() {
    std::unique_lock lock(mu_);
    while (true) {
      wake_.wait(lock, [this] { return asked_ || stopping_; });
      if (stopping_) return;
      asked_ = false;
      lock.unlock();
      // Passive: copies what no reader still needs, never waits for a lock. What it cannot copy
      // now is copied at the next request.
      sqlite3_wal_checkpoint_v2(own_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      bulk_done_ = true;
      lock.lock();
      asked_ = false;  // asked again during the copy: the writer finishes it
    }
  }

  sqlite3* const writer_;
  Db own_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool asked_ = false;
  bool stopping_ = false;
  std::atomic<bool> bulk_done_{false};  // the thread copied the WAL: the writer finishes it
  std::thread thread_;
};

CheckpointerPtr start_checkpointer(sqlite3* db, const std::string& path, std::string* error) {
  Db own = open_db(path, true, error);
  if (!own) return nullptr;
  CheckpointerPtr c(new Checkpointer(db, std::move(own)));
  sqlite3_wal_hook(db, &Checkpointer::on_commit, c.get());
  c->start();
  return c;
}

void CheckpointerStop::operator()(Checkpointer* checkpointer) const {
  checkpointer->stop();
  sqlite3_wal_autocheckpoint(checkpointer->writer(), kCheckpointPages);  // replaces our hook
  delete checkpointer;
}

}  // namespace pgw::store
