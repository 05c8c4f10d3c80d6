// The failure path: when the store cannot be written, every append of the batch fails with a
// message, the chain stays consistent, and appends succeed again once the condition clears.
//
// A full disk is simulated with RLIMIT_FSIZE, the per-process cap on file size: writes past it
// fail with EFBIG exactly where a full disk fails with ENOSPC, for root too, with no change to
// the store's code or configuration. SIGXFSZ is ignored so the write fails instead of the process.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <csignal>
#include <sstream>

#include "test/unit/store_testing.h"

using namespace pgw::store;
using namespace pgw::store::testing;

namespace {

// Caps the size of files this process writes until destroyed.
struct FileSizeCap {
  rlimit saved{};
  void (*saved_handler)(int) = nullptr;
  explicit FileSizeCap(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved);
    saved_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit cap = saved;
    cap.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &cap) == 0);
  }
  ~FileSizeCap() {
    setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, saved_handler);
  }
};

AuditRecord big_record(int i) {
  AuditRecord r = sample_record(i);
  r.statement = "SELECT '" + std::string(100'000, 'x') + "'";  // past any cap below
  return r;
}

}  // namespace

TEST_CASE("writes that fail give every caller an error, and the store recovers") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_store(path);
  REQUIRE(append_sync(*store, sample_record(1)).seq == 1);
  REQUIRE(append_sync(*store, sample_record(2)).seq == 2);
  store->append_outcome(Outcome{2, 1, "", "", 0.5, 0, "", ""});
  REQUIRE(append_sync(*store, sample_record(3)).seq == 3);

  {
    FileSizeCap cap(1);
    std::vector<AppendResult> results(10);
    std::vector<std::promise<void>> done(results.size());
    for (size_t i = 0; i < results.size(); ++i) {
      store->append(big_record(int(i)), [&, i](AppendResult r) {
        results[i] = r;
        done[i].set_value();
      });
    }
    for (auto& d : done) d.get_future().wait();
    for (const AppendResult& r : results) {
      CHECK_FALSE(r.ok());
      CHECK(r.seq == 0);
      CHECK(r.error.find("audit store " + path) != std::string::npos);
    }
    INFO(results[0].error);
    CHECK(results[0].error.find("cannot") != std::string::npos);
  }

  AppendResult after = append_sync(*store, big_record(3));
  INFO(after.error);
  CHECK(after.ok());
  CHECK(after.seq == 4);  // the failed batch consumed no seq
  CHECK(append_sync(*store, sample_record(4)).seq == 5);
  store->close();

  check_chain_intact(path, 6);  // 5 records and an outcome
}

TEST_CASE("an outcome caught in a failed batch is written with a later one") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_store(path);
  REQUIRE(append_sync(*store, sample_record(1)).seq == 1);
  {
    FileSizeCap cap(1);
    store->append_outcome(Outcome{1, 9, "", "", 3, 0, "", ""});
    CHECK_FALSE(append_sync(*store, big_record(2)).ok());
    CHECK_FALSE(append_sync(*store, big_record(2)).ok());
    CHECK_FALSE(append_sync(*store, big_record(2)).ok());
    CHECK_FALSE(append_sync(*store, big_record(2)).ok());
  }
  CHECK(append_sync(*store, sample_record(3)).seq == 2);  // committed with the retried outcome
  store->close();
  check_chain_intact(path, 3);
  std::string error;
  std::ostringstream out;
  REQUIRE(export_audit(StoreLocation{.path = path}, {}, ExportFormat::csv, out, &error));
  auto rows = parse_csv(out.str());
  REQUIRE(rows.size() == 3);  // header, seq 1, seq 3
  CHECK(rows[1][22] == "9");
}

TEST_CASE("failed commits are counted, and a store whose commit failed is tried again when asked") {
  TempDir dir;
  auto store = open_store(dir.file("audit.db"));
  REQUIRE(append_sync(*store, sample_record(1)).ok());
  CHECK(store->failed_commits() == 0);
  CHECK(store->writable());
  {
    FileSizeCap cap(1);
    CHECK_FALSE(append_sync(*store, big_record(2)).ok());
    CHECK_FALSE(append_sync(*store, big_record(3)).ok());
    CHECK(store->failed_commits() == 2);
  }
  // The latest commit failed: the store is writable only because an empty commit succeeds now.
  CHECK(store->writable());
  CHECK(store->failed_commits() == 2);
  CHECK(append_sync(*store, sample_record(4)).seq == 2);
  store->close();
}
