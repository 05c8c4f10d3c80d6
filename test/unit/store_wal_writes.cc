// The writer's WAL frames are gathered and written once per commit (store/wal_writes.h): a commit
// must be in the file, for other connections and after a crash, as soon as it is reported.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "store/wal_writes.h"
#include "test/unit/store_testing.h"

using namespace pgw::store;
using namespace pgw::store::testing;

namespace {

// Records and the largest seq, read through SQLite's default VFS on a connection of
// its own, as `audit export` reads them.
std::pair<int64_t, int64_t> count_rows(const std::string& path) {
  auto row = query_row(path, "SELECT count(*), coalesce(max(seq), 0) FROM audit_statement");
  return {row[0], row[1]};
}

}  // namespace

TEST_CASE("the store's writer opens its file through the WAL-gathering VFS") {
  REQUIRE(wal_writes_vfs() != nullptr);
  CHECK(sqlite3_vfs_find(wal_writes_vfs()) != nullptr);
  CHECK(sqlite3_vfs_find(nullptr) != sqlite3_vfs_find(wal_writes_vfs()));  // not the default
}

TEST_CASE("each commit is readable by another connection as soon as its callback runs") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  for (int i = 1; i <= 40; ++i) {
    std::pair<int64_t, int64_t> seen{-1, -1};
    store->append(sample_record(i), [&](AppendResult r) {
      REQUIRE(r.ok());
      seen = count_rows(path);
    });
    store->flush();
    CHECK(seen == std::pair<int64_t, int64_t>{i, i});
  }
  store->close();
}

TEST_CASE("a transaction larger than one write and than the gathering bound reaches the file") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  constexpr int kRecords = 3000;  // about 6 MB of statement text in one transaction
  int committed = 0;
  for (int i = 1; i <= kRecords; ++i) {
    AuditRecord r = sample_record(i);
    r.statement = "SELECT '" + std::string(2000, static_cast<char>('a' + i % 26)) + "'";
    store->append(std::move(r), [&](AppendResult result) { committed += result.ok(); });
  }
  store->flush();
  CHECK(committed == kRecords);
  CHECK(count_rows(path) == std::pair<int64_t, int64_t>{kRecords, kRecords});
  check_chain_intact(path, kRecords);
  store->close();
}

TEST_CASE("what was committed survives a writer that dies without closing the store") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  constexpr int kCommits = 25;
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // No close, no destructors: the WAL holds the commits as a killed proxy leaves it.
    auto store = open_flushed(path);
    int ok = 0;
    for (int i = 1; i <= kCommits; ++i) {
      store->append(sample_record(i), [&](AppendResult r) { ok += r.ok(); });
      store->flush();
    }
    _exit(ok == kCommits ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(count_rows(path) == std::pair<int64_t, int64_t>{kCommits, kCommits});
  check_chain_intact(path, kCommits);
}
