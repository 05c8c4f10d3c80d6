// Committing on flush (the proxy's event loops commit what an iteration queued) and WAL
// checkpoints taken off the committing thread.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "test/unit/store_testing.h"

using namespace pgw::store;
using namespace pgw::store::testing;

TEST_CASE("with commit on flush, nothing is committed before flush and flush runs the callbacks") {
  TempDir dir;
  auto store = open_flushed(dir.file("audit.db"));
  std::vector<int64_t> seqs;
  for (int i = 1; i <= 3; ++i) {
    store->append(sample_record(i), [&](AppendResult r) { seqs.push_back(r.ok() ? r.seq : -1); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(seqs.empty());  // no thread commits behind the caller's back
  CHECK_FALSE(store->flush());
  CHECK(seqs == std::vector<int64_t>{1, 2, 3});
  CHECK_FALSE(store->flush());  // nothing queued: nothing to do
}

TEST_CASE("flush commits what its callbacks queue, a few rounds at a time") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  int64_t outcome_of = 0;
  store->append(sample_record(1), [&](AppendResult r) {
    outcome_of = r.seq;
    store->append_outcome(Outcome{r.seq, 1, "", "", 0.5, 0, "", ""});
  });
  CHECK_FALSE(store->flush());  // the outcome appended by the callback is committed too
  CHECK(outcome_of == 1);
  // Each record's callback appends the next: a chain longer than one flush commits.
  int committed = 0;
  std::function<void(AppendResult)> next = [&](AppendResult r) {
    if (r.ok() && ++committed < 10) store->append(sample_record(committed), next);
  };
  store->append(sample_record(0), next);
  CHECK(store->flush());  // more is queued: flush again soon
  CHECK(committed > 0);
  CHECK(committed < 10);
  while (store->flush()) {
  }
  CHECK(committed == 10);
  store->close();
  check_chain_intact(path, 12);
}

TEST_CASE("flushes from several threads commit every record exactly once") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  constexpr int kThreads = 4, kPerThread = 500;
  std::atomic<int> committed{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        store->append(sample_record(i), [&](AppendResult r) { (r.ok() ? committed : failed)++; });
        if (i % 7 == 0) store->flush();
      }
      // Returns at once while another thread commits, which then commits what is queued.
      while (store->flush()) {
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(committed == kThreads * kPerThread);
  CHECK(failed == 0);
  store->close();
  check_chain_intact(path, kThreads * kPerThread);
}

TEST_CASE("close commits what was appended but never flushed") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  int64_t seq = 0;
  store->append(sample_record(1), [&](AppendResult r) { seq = r.seq; });
  store->close();
  CHECK(seq == 1);
  check_chain_intact(path, 1);
}

TEST_CASE("the WAL stays bounded under a steady stream of small commits") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  // About 4 pages per commit, some 70 MB of WAL frames in all: without a WAL restart the file
  // would hold them all.
  constexpr int kCommits = 4000;
  for (int i = 1; i <= kCommits; ++i) {
    store->append(sample_record(i), nullptr);
    store->flush();
  }
  auto wal_bytes = std::filesystem::file_size(path + "-wal");
  CHECK(wal_bytes < 24u * 1024 * 1024);  // restarted after checkpoints (~4 MB each time)
  store->close();
  check_chain_intact(path, kCommits);
}

namespace {

int64_t outcome_rows(const std::string& path) {
  return query_row(path, "SELECT count(*) FROM audit_outcome")[0];
}

}  // namespace

TEST_CASE("outcomes alone wait for a record or for being due, not for a commit of their own") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  int64_t seq = 0;
  store->append(sample_record(1), [&](AppendResult r) { seq = r.seq; });
  CHECK_FALSE(store->flush(false));
  REQUIRE(seq == 1);
  store->append_outcome(Outcome{1, 1, "", "", 0.5, 0, "", ""});
  CHECK_FALSE(store->flush(false));
  CHECK(store->outcomes_waiting());
  CHECK(outcome_rows(path) == 0);
  // A record takes the waiting outcome along.
  store->append(sample_record(2), nullptr);
  CHECK_FALSE(store->flush(false));
  CHECK_FALSE(store->outcomes_waiting());
  CHECK(outcome_rows(path) == 1);
  // Due, an outcome is committed alone.
  store->append_outcome(Outcome{2, 1, "", "", 0.5, 0, "", ""});
  CHECK_FALSE(store->flush(false));
  CHECK(store->outcomes_waiting());
  CHECK_FALSE(store->flush(true));
  CHECK(outcome_rows(path) == 2);
  store->close();
  check_chain_intact(path, 4);
}

TEST_CASE("a writer thread commits an outcome alone once it has waited its delay") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_store(path);
  REQUIRE(append_sync(*store, sample_record(1)).seq == 1);
  store->append_outcome(Outcome{1, 1, "", "", 0.5, 0, "", ""});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (outcome_rows(path) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(outcome_rows(path) == 1);
  store->close();
  check_chain_intact(path, 2);
}

TEST_CASE("a lane is committed by its own flush, its callbacks on the flushing thread") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  int a = store->add_lane(), b = store->add_lane();
  REQUIRE(a != b);
  std::thread::id ran_a, ran_b;
  store->append(sample_record(1), [&](AppendResult r) {
    CHECK(r.ok());
    ran_a = std::this_thread::get_id();
  }, a);
  store->append(sample_record(2), [&](AppendResult r) {
    CHECK(r.ok());
    ran_b = std::this_thread::get_id();
  }, b);
  std::thread other([&] { CHECK_FALSE(store->flush(false, b)); });
  other.join();
  CHECK(ran_b != std::thread::id());
  CHECK(ran_b != std::this_thread::get_id());
  CHECK(ran_a == std::thread::id());  // lane a waits for its own loop
  CHECK_FALSE(store->flush(false, a));
  CHECK(ran_a == std::this_thread::get_id());
  // An outcome rides with its own lane's next record.
  store->append_outcome(Outcome{1, 1, "", "", 0.5, 0, "", ""}, a);
  CHECK(store->outcomes_waiting(a));
  CHECK_FALSE(store->outcomes_waiting(b));
  store->close();
  check_chain_intact(path, 3);
}
