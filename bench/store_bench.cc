// Audit store ingestion: appends N realistic records, each followed by its outcome once it is
// committed (as the proxy does when the statement has run), from several threads (4 unless told),
// so the figure is what group commit sustains; with 1 thread, what the store itself costs a
// statement. Records of a thread belong to 64 sessions, whose rows are written once.
// Run once per durability mode, committed as the proxy commits it: with `commit` each thread
// flushes after `window` appends, as an event loop commits what one iteration queued; with
// `fsync` a writer thread commits what each thread hands over, each keeping at most `window`
// appends in flight (as a proxy's open sessions bound its in-flight statements).
//   store_bench [N] [window per thread] [directory] [threads]
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <latch>
#include <memory>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "store/audit.h"

namespace {

using pgw::store::AppendResult;
using pgw::store::AuditRecord;
using pgw::store::AuditStore;
using pgw::store::Durability;
using pgw::store::Outcome;
using pgw::store::SessionRecord;
using pgw::store::SessionRef;

// The sessions of one thread: a loop serves many, each written once and named by its records.
std::vector<SessionRef> sample_sessions(int thread) {
  std::vector<SessionRef> sessions;
  for (int i = 0; i < 64; ++i) {
    sessions.push_back(std::make_shared<const SessionRecord>(SessionRecord{
        .principal = fmt::format("acme/billing-service@refs/heads/main#{}", thread),
        .attribution = "verified",
        .job_id = fmt::format("{}-1", 8'800'000 + thread * 64 + i),
        .commit = "3f2a9c1e5d7b4a6f8e0c2d1b3a5f7e9c0d2b4a6f",
        .session_id = fmt::format("s-{}-{}", thread, i),
        .client_addr = "10.20.30.40:51234",
        .database = "billing",
        .upstream_role = "migrator",
        .application_name = "flyway"}));
  }
  return sessions;
}

AuditRecord sample_record(const std::vector<SessionRef>& sessions, int64_t i) {
  AuditRecord r;
  r.ts_us = 1'795'000'000'000'000 + i;
  r.session = sessions[i % sessions.size()];
  r.protocol = "extended";
  r.command = "UPDATE";
  r.classes = "dml;write";
  r.tables_read = "public.invoices";
  r.tables_written = "public.invoices";
  r.fingerprint = "a1b2c3d4e5f60718";
  r.statement = "UPDATE public.invoices SET status = $1, updated_at = now() WHERE id = $2 AND "
                "tenant_id = $3 RETURNING id, status";
  r.parameters = fmt::format(R"(["paid","{}","42"])", i);
  r.decision = "allow";
  r.rule = "ci-may-write-billing";
  return r;
}

// The outcome the statement of record `seq` gets once it ran, as the proxy appends it.
Outcome sample_outcome(int64_t seq) { return Outcome{seq, 1, "", "", 0.25, 0, "", ""}; }

std::unique_ptr<AuditStore> open_fresh(const std::string& path, Durability durability,
                                       bool commit_on_flush) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  std::string error;
  auto store = AuditStore::open(
      {.path = path, .durability = durability, .commit_on_flush = commit_on_flush}, &error);
  if (!store) {
    std::fprintf(stderr, "%s\n", error.c_str());
    std::exit(2);
  }
  return store;
}

// Appends `n` records from `n_threads` threads, each keeping at most `window` in flight, to a store
// whose writer thread commits them; returns records per second until the last commit.
double run_writer_thread(AuditStore& store, int64_t n, int64_t window, int n_threads,
                         std::atomic<int64_t>* failed) {
  std::latch done(n);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<std::counting_semaphore<>>> in_flight;
  for (int t = 0; t < n_threads; ++t) {
    in_flight.push_back(std::make_unique<std::counting_semaphore<>>(window));
  }
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<SessionRef> sessions = sample_sessions(t);
      for (int64_t i = t; i < n; i += n_threads) {
        in_flight[t]->acquire();
        store.append(sample_record(sessions, i), [&, t](AppendResult r) {
          if (!r.ok()) failed->fetch_add(1);
          else store.append_outcome(sample_outcome(r.seq));
          in_flight[t]->release();
          done.count_down();
        });
        store.flush();  // hands the record to the writer, as a loop does at its iteration's end
      }
    });
  }
  done.wait();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& t : threads) t.join();
  return static_cast<double>(n) / seconds;
}

// Appends `n` records from `n_threads` threads as the proxy's event loops do: each appends `window`
// records (what one loop iteration queued), then flushes, committing whatever all threads queued.
double run_flushing_threads(AuditStore& store, int64_t n, int64_t window, int n_threads,
                            std::atomic<int64_t>* failed) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<SessionRef> sessions = sample_sessions(t);
      int64_t queued = 0;
      for (int64_t i = t; i < n; i += n_threads) {
        store.append(sample_record(sessions, i), [&](AppendResult r) {
          if (!r.ok()) failed->fetch_add(1);
          else store.append_outcome(sample_outcome(r.seq));
        });
        if (++queued == window) {
          store.flush();
          queued = 0;
        }
      }
      while (store.flush()) {
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(n) / seconds;
}

double run(const std::string& path, Durability durability, bool commit_on_flush, int64_t n,
           int64_t window, int n_threads) {
  auto store = open_fresh(path, durability, commit_on_flush);
  std::atomic<int64_t> failed{0};
  double rate = commit_on_flush ? run_flushing_threads(*store, n, window, n_threads, &failed)
                                : run_writer_thread(*store, n, window, n_threads, &failed);
  store->close();
  if (failed > 0) {
    std::fprintf(stderr, "%lld appends failed\n", static_cast<long long>(failed.load()));
    std::exit(1);
  }
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = argc > 1 ? std::stoll(argv[1]) : 500'000;
  int64_t window = argc > 2 ? std::stoll(argv[2]) : 16384;
  std::string dir = argc > 3 ? argv[3] : std::filesystem::temp_directory_path().string();
  int n_threads = argc > 4 ? std::stoi(argv[4]) : 4;
  if (n_threads < 1 || n < 1 || window < 1) {
    std::fprintf(stderr, "usage: store_bench [records] [window per thread] [directory] [threads]\n");
    return 2;
  }
  std::string path = dir + "/pgwarden_store_bench.db";
  // As the proxy runs them: commit durability committed by the loops, fsync by a writer thread.
  for (auto [name, durability] : {std::pair{"commit", Durability::commit},
                                  std::pair{"fsync", Durability::fsync}}) {
    bool commit_on_flush = durability == Durability::commit;
    double rate = run(path, durability, commit_on_flush, n, window, n_threads);
    fmt::print("durability={:<6} committer={:<6} records={} threads={} window={} records/s={:.0f}\n",
               name, commit_on_flush ? "caller" : "thread", n, n_threads, window, rate);
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return 0;
}
