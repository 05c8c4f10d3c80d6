#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

#include "test/unit/store_testing.h"

using namespace pgw::store;
using namespace pgw::store::testing;

namespace {

// sample_record(i)'s time, and `seconds` after it.
int64_t ts_of(int i, int seconds = 0) {
  return sample_record(i).ts_us + int64_t(seconds) * 1'000'000;
}

// Commits record `i` (of principal `principal`) on a store that commits on flush.
void commit_record(AuditStore& store, int i, const std::string& principal = "ci:acme/app@main") {
  store.append(sample_record(i, principal), [](AppendResult r) { REQUIRE(r.ok()); });
  CHECK_FALSE(store.flush());
}

void commit_outcome(AuditStore& store, int64_t seq, int64_t rows) {
  store.append_outcome(Outcome{seq, rows, "", "", 1.5, 0, "", ""});
  CHECK_FALSE(store.flush());
}

// What one poll at `now_us` writes, as JSON lines.
struct Polled {
  AuditFollower::Poll poll;
  std::vector<nlohmann::json> rows;
  std::string error;
};
Polled poll_at(AuditFollower& follower, int64_t now_us) {
  std::ostringstream out;
  Polled p;
  p.poll = follower.poll(now_us, out, &p.error);
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) p.rows.push_back(nlohmann::json::parse(line));
  return p;
}

std::vector<int64_t> seqs_of(const Polled& p) {
  std::vector<int64_t> out;
  for (const auto& row : p.rows) out.push_back(row["seq"].get<int64_t>());
  return out;
}

AuditFollower jsonl_follower(const std::string& path, FollowPositions after = {},
                             ExportFilter filter = {}) {
  return AuditFollower(StoreLocation{.path = path}, std::move(filter), ExportFormat::jsonl,
                       std::move(after));
}

}  // namespace

TEST_CASE("follow positions: --after-seq takes a seq or instance:seq pairs") {
  std::string error;
  CHECK(parse_after_seq("120", &error) == FollowPositions{{"", 120}});
  CHECK(parse_after_seq("0", &error) == FollowPositions{{"", 0}});
  CHECK(parse_after_seq("gw-a:120,gw-b:77", &error) ==
        FollowPositions{{"gw-a", 120}, {"gw-b", 77}});
  CHECK(parse_after_seq("eu:host:9", &error) == FollowPositions{{"eu:host", 9}});
  CHECK(error.empty());
  for (const char* bad : {"", "-1", "gw-a", "gw-a:", ":5", "gw-a:1,", "gw-a:x", "12a"}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(parse_after_seq(bad, &error));
    CHECK(error.starts_with("--after-seq \"" + std::string(bad) + "\": \""));
  }
  CHECK_FALSE(parse_after_seq("gw-a:1,gw-a:2", &error));
  CHECK(error == "--after-seq \"gw-a:1,gw-a:2\" names instance gw-a twice");
}

TEST_CASE("follow writes a record once its outcome is committed, in seq order, each once") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  AuditFollower follower = jsonl_follower(path);
  for (int i = 1; i <= 3; ++i) commit_record(*store, i);
  commit_outcome(*store, 1, 10);
  commit_outcome(*store, 3, 30);

  // Record 2 still runs: record 3 waits behind it.
  Polled p = poll_at(follower, ts_of(3, 1));
  CHECK(p.poll == AuditFollower::Poll::caught_up);
  REQUIRE(seqs_of(p) == std::vector<int64_t>{1});
  CHECK(p.rows[0]["rows"] == 10);
  CHECK(p.rows[0]["statement"] == "INSERT INTO t VALUES (1)");
  CHECK(seqs_of(poll_at(follower, ts_of(3, 2))).empty());

  commit_outcome(*store, 2, 20);
  p = poll_at(follower, ts_of(3, 2));
  REQUIRE(seqs_of(p) == std::vector<int64_t>{2, 3});
  CHECK(p.rows[0]["rows"] == 20);
  CHECK(p.rows[1]["rows"] == 30);
  CHECK(p.rows[1]["duration_ms"] == 1.5);
  CHECK(seqs_of(poll_at(follower, ts_of(3, 60))).empty());
  CHECK(follower.positions() == FollowPositions{{"", 3}});
}

TEST_CASE("follow writes a record without its outcome once it is kFollowSettle old") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  AuditFollower follower = jsonl_follower(path);
  commit_record(*store, 1);
  commit_record(*store, 2);
  commit_outcome(*store, 2, 5);
  int64_t settle_s = kFollowSettle.count();
  CHECK(seqs_of(poll_at(follower, ts_of(1, int(settle_s)) - 1)).empty());
  Polled p = poll_at(follower, ts_of(1, int(settle_s)));
  REQUIRE(seqs_of(p) == std::vector<int64_t>{1, 2});
  CHECK(p.rows[0]["rows"].is_null());
  CHECK(p.rows[0]["decision"] == "allow");
  CHECK(p.rows[1]["rows"] == 5);
  // The outcome that comes later is not written again.
  commit_outcome(*store, 1, 7);
  CHECK(seqs_of(poll_at(follower, ts_of(2, 60))).empty());
}

TEST_CASE("follow resumes after --after-seq and keeps the filters without stopping at what they "
          "leave out") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  auto store = open_flushed(path);
  for (int i = 1; i <= 6; ++i) {
    commit_record(*store, i, i % 2 ? "dba:alice" : "ci:acme/app@main");
    commit_outcome(*store, i, i);
  }
  AuditFollower resumed = jsonl_follower(path, {{"", 3}});
  CHECK(seqs_of(poll_at(resumed, ts_of(6))) == std::vector<int64_t>{4, 5, 6});

  ExportFilter dba;
  dba.principal_glob = "dba:*";
  AuditFollower alice = jsonl_follower(path, {{"", 1}}, dba);
  Polled p = poll_at(alice, ts_of(6));
  CHECK(seqs_of(p) == std::vector<int64_t>{3, 5});
  CHECK(alice.positions() == FollowPositions{{"", 6}});
  commit_record(*store, 7, "dba:alice");
  commit_outcome(*store, 7, 7);
  CHECK(seqs_of(poll_at(alice, ts_of(7))) == std::vector<int64_t>{7});
}

TEST_CASE("follow refuses a position past the store's last record") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_store(path, 4);
  AuditFollower past = jsonl_follower(path, {{"", 5}});
  Polled p = poll_at(past, ts_of(4));
  CHECK(p.poll == AuditFollower::Poll::failed);
  CHECK(p.error == "--after-seq 5: the last record is seq 4");
  AuditFollower named = jsonl_follower(path, {{"gw-a", 1}});
  p = poll_at(named, ts_of(4));
  CHECK(p.poll == AuditFollower::Poll::failed);
  CHECK(p.error == "--after-seq names instance gw-a, but a SQLite store has one chain: give a plain seq");
}

TEST_CASE("follow waits for a store that does not exist yet, and writes the CSV header first") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  AuditFollower follower(StoreLocation{.path = path}, {}, ExportFormat::csv, {});
  std::ostringstream out;
  std::string error;
  CHECK(follower.poll(ts_of(1), out, &error) == AuditFollower::Poll::caught_up);
  CHECK(error.empty());
  CHECK(out.str().starts_with("seq,ts,principal,"));
  CHECK(parse_csv(out.str()).size() == 1);

  fill_store(path, 2);
  CHECK(follower.poll(ts_of(2, 60), out, &error) == AuditFollower::Poll::caught_up);
  auto rows = parse_csv(out.str());
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][0] == "1");
  CHECK(rows[2][0] == "2");
  CHECK(rows[2][17] == "INSERT INTO t VALUES (2)");
}

TEST_CASE("follow reads a large backlog a batch at a time") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  int n = int(AuditFollower::kBatch) + 7;
  fill_store(path, n);
  AuditFollower follower = jsonl_follower(path);
  int64_t later = ts_of(n, 60);
  Polled first = poll_at(follower, later);
  CHECK(first.poll == AuditFollower::Poll::more);
  REQUIRE(first.rows.size() == size_t(AuditFollower::kBatch));
  CHECK(first.rows.back()["seq"] == AuditFollower::kBatch);
  Polled second = poll_at(follower, later);
  CHECK(second.poll == AuditFollower::Poll::caught_up);
  REQUIRE(second.rows.size() == 7);
  CHECK(second.rows.front()["seq"] == AuditFollower::kBatch + 1);
  CHECK(second.rows.back()["seq"] == n);
}
