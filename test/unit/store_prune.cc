#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "store/cli.h"
#include "test/unit/store_testing.h"

using namespace pgw::store;
using namespace pgw::store::testing;

namespace {

// The ts of sample_record(i): a prune before it keeps record i and what follows.
int64_t ts_of(int i) { return sample_record(i).ts_us; }

constexpr int64_t kNow = 1'796'000'000'000'000;

// A store with records 1..n, and the outcomes of `completed` written in that order.
void fill_with_outcomes(const std::string& path, int n, const std::vector<int64_t>& completed,
                        const std::string& key = "") {
  auto store = open_store(path, key);
  for (int i = 1; i <= n; ++i) append_sync(*store, sample_record(i));
  for (int64_t seq : completed) store->append_outcome(Outcome{seq, 1, "", "", 0.5, 0, "", ""});
  store->close();
}

std::vector<int64_t> up_to(int64_t n) {
  std::vector<int64_t> seqs;
  for (int64_t i = 1; i <= n; ++i) seqs.push_back(i);
  return seqs;
}

PruneResult prune(const std::string& path, int64_t before_us, const std::string& key = "") {
  PruneResult result;
  std::string error;
  bool ok = prune_audit(StoreLocation{.path = path},
                        PruneRequest{.before_us = before_us, .now_us = kNow, .hmac_key = key},
                        &result, &error);
  INFO(error);
  REQUIRE(ok);
  return result;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int run(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return audit_command(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("a prune anchors what it removes and verify goes on from the first kept record") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 10, up_to(10));
  PruneResult pruned = prune(path, ts_of(7));
  REQUIRE(pruned.anchors.size() == 1);
  const Anchor& a = pruned.anchors[0];
  CHECK(a.number == 1);
  CHECK(a.first_seq == 1);
  CHECK(a.last_seq == 6);
  CHECK(a.records == 6);
  CHECK(a.outcomes == 6);
  CHECK(a.outcome_seq == 6);
  CHECK(a.before_us == ts_of(7));
  CHECK(a.pruned_us == kNow);
  CHECK(describe_anchor(a) == "anchor 1: records 1-6 (6 records, 6 outcomes) pruned before "
                              "2026-11-18T11:06:47.000000Z at 2026-11-30T00:53:20.000000Z");
  CHECK(query_row(path, "SELECT count(*), min(seq) FROM audit_statement") ==
        std::vector<int64_t>{4, 7});
  CHECK(query_row(path, "SELECT count(*), min(seq) FROM audit_outcome") ==
        std::vector<int64_t>{4, 7});

  VerifyResult v = verify(path);
  CHECK(v.ok);
  CHECK(v.rows_checked == 4 + 4 + 1);  // records, outcomes, the anchor
  REQUIRE(v.anchors.size() == 1);
  CHECK(v.anchors[0].last_seq == 6);

  SECTION("the writer goes on after a prune") {
    auto store = open_store(path);
    append_sync(*store, sample_record(11));
    store->append_outcome(Outcome{11, 1, "", "", 0.5, 0, "", ""});
    store->close();
    CHECK(verify(path).ok);
    CHECK(verify(path).rows_checked == 5 + 5 + 1);
  }
  SECTION("a second prune continues from the first anchor") {
    PruneResult again = prune(path, ts_of(9));
    REQUIRE(again.anchors.size() == 1);
    CHECK(again.anchors[0].number == 2);
    CHECK(again.anchors[0].first_seq == 7);
    CHECK(again.anchors[0].last_seq == 8);
    VerifyResult v2 = verify(path);
    CHECK(v2.ok);
    REQUIRE(v2.anchors.size() == 1);
    CHECK(v2.anchors[0].number == 2);
    CHECK(v2.rows_checked == 2 + 2 + 2);
  }
  SECTION("a prune with nothing older writes no anchor") {
    PruneResult none = prune(path, ts_of(3));
    CHECK(none.anchors.empty());
    REQUIRE_FALSE(none.notes.empty());
    CHECK(contains(none.notes[0], "nothing older than"));
  }
  SECTION("the chain's last record and outcome are always kept") {
    PruneResult all = prune(path, kNow);
    REQUIRE(all.anchors.size() == 1);
    CHECK(all.anchors[0].last_seq == 9);
    CHECK(query_row(path, "SELECT count(*), min(seq) FROM audit_statement") ==
          std::vector<int64_t>{1, 10});
    CHECK(verify(path).ok);
  }
}

TEST_CASE("a prune keeps a record without an outcome and everything after it") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    for (int i = 1; i <= 6; ++i) {
      AuditRecord r = sample_record(i);
      if (i == 3) r.decision = "hold";  // held for approval: no outcome yet
      append_sync(*store, r);
    }
    for (int64_t seq : {1, 2, 4, 5}) store->append_outcome(Outcome{seq, 1, "", "", 0.5, 0, "", ""});
    store->close();
  }
  PruneResult pruned = prune(path, ts_of(6));
  REQUIRE(pruned.anchors.size() == 1);
  CHECK(pruned.anchors[0].last_seq == 2);
  REQUIRE(pruned.notes.size() == 2);  // where the cut stopped, and the file
  CHECK(contains(pruned.notes[0], "kept from record 3"));
  CHECK(query_row(path, "SELECT count(*) FROM audit_statement WHERE seq = 3 AND decision = "
                        "'hold'") == std::vector<int64_t>{1});
  CHECK(verify(path).ok);

  SECTION("once it has its outcome, the next prune takes it") {
    auto store = open_store(path);
    store->append_outcome(Outcome{3, 0, "42501", "expired", 0, 0, "expired", ""});
    append_sync(*store, sample_record(7));
    store->append_outcome(Outcome{7, 1, "", "", 0.5, 0, "", ""});
    store->close();
    PruneResult again = prune(path, ts_of(6));
    REQUIRE(again.anchors.size() == 1);
    CHECK(again.anchors[0].first_seq == 3);
    CHECK(again.anchors[0].last_seq == 5);
    CHECK(again.anchors[0].outcome_seq == 3);  // written after those of 4 and 5
    CHECK(verify(path).ok);
  }
}

TEST_CASE("the outcome chain is cut only at its front") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  // Written 2, 1, 3, 5, 4: after 2 and 1, and after 3, the outcomes are those of 1..k.
  fill_with_outcomes(path, 6, {2, 1, 3, 5, 4, 6});
  SECTION("up to the last record whose outcomes form a prefix") {
    PruneResult pruned = prune(path, ts_of(5));
    REQUIRE(pruned.anchors.size() == 1);
    CHECK(pruned.anchors[0].last_seq == 3);
    CHECK(pruned.anchors[0].outcome_seq == 3);
  }
  SECTION("not between two outcomes written out of order") {
    PruneResult pruned = prune(path, ts_of(2));
    CHECK(pruned.anchors.empty());
    CHECK(contains(pruned.notes[0], "kept from record 1"));
  }
  SECTION("past them") {
    PruneResult pruned = prune(path, ts_of(6));
    REQUIRE(pruned.anchors.size() == 1);
    CHECK(pruned.anchors[0].last_seq == 5);
    CHECK(pruned.anchors[0].outcome_seq == 4);
  }
  CHECK(verify(path).ok);
}

TEST_CASE("verify names the anchor when an anchor or what follows it is tampered with") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 10, up_to(10));
  prune(path, ts_of(4));
  prune(path, ts_of(7));  // anchors 1 (records 1-3) and 2 (records 4-6)
  REQUIRE(verify(path).ok);

  SECTION("a changed anchor") {
    tamper(path, "UPDATE audit_anchor SET before_us = before_us + 1 WHERE number = 2");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 4);
    CHECK(contains(v.reason, "anchor 2 (records 4-6 pruned at"));
    CHECK(contains(v.reason, "changed"));
  }
  SECTION("an anchor whose range was widened") {
    tamper(path, "UPDATE audit_anchor SET last_seq = 7, records = 4 WHERE number = 2");
    CHECK_FALSE(verify(path).ok);
  }
  SECTION("the newest anchor deleted") {
    tamper(path, "DELETE FROM audit_anchor WHERE number = 2");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 4);
    CHECK(contains(v.reason, "records 4-6 are missing after anchor 1"));
  }
  SECTION("the oldest anchor deleted") {
    tamper(path, "DELETE FROM audit_anchor WHERE number = 1");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(contains(v.reason, "anchor 1 is missing"));
  }
  SECTION("every anchor deleted") {
    tamper(path, "DELETE FROM audit_anchor");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 1);
    CHECK(contains(v.reason, "records 1-6 are missing and no anchor covers them"));
  }
  SECTION("a record deleted after the anchor") {
    tamper(path, "DELETE FROM audit_statement WHERE seq = 7");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 7);
    CHECK(contains(v.reason, "record 7 is missing after anchor 2"));
  }
  SECTION("an outcome deleted after the anchor") {
    tamper(path, "DELETE FROM audit_outcome WHERE seq = 7");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 8);
    CHECK(contains(v.reason, "(the outcome of record 7) was removed"));
  }
  SECTION("the CLI exits 1 on a tampered anchor, 0 on an intact one") {
    CHECK(run({"audit", "verify", "--store", path}) == 0);
    tamper(path, "UPDATE audit_anchor SET records = 1 WHERE number = 1");
    CHECK(run({"audit", "verify", "--store", path}) == 1);
  }
}

TEST_CASE("only rows an anchor covers can be deleted, and anchors not at all") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 5, up_to(5));
  prune(path, ts_of(3));
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  for (std::string table : {"audit_statement", "audit_outcome", "audit_anchor"}) {
    INFO(table);
    CHECK(sqlite3_exec(db, ("DELETE FROM " + table).c_str(), nullptr, nullptr, nullptr) ==
          SQLITE_CONSTRAINT);
  }
  CHECK(sqlite3_exec(db, "UPDATE audit_anchor SET records = 9", nullptr, nullptr, nullptr) ==
        SQLITE_CONSTRAINT);
  sqlite3_close(db);
  CHECK(verify(path).ok);
}

TEST_CASE("a prune of an HMAC chain needs its key and anchors with it") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 6, up_to(6), "k3y");
  PruneResult result;
  std::string error;
  CHECK_FALSE(prune_audit(StoreLocation{.path = path},
                          PruneRequest{.before_us = ts_of(4), .now_us = kNow}, &result, &error));
  CHECK(contains(error, "give its key"));
  error.clear();
  CHECK_FALSE(prune_audit(StoreLocation{.path = path},
                          PruneRequest{.before_us = ts_of(4), .now_us = kNow, .hmac_key = "other"},
                          &result, &error));
  CHECK(result.anchors.empty());
  CHECK(query_row(path, "SELECT count(*) FROM audit_statement") == std::vector<int64_t>{6});

  prune(path, ts_of(4), "k3y");
  VerifyResult v = verify(path, "k3y");
  CHECK(v.ok);
  REQUIRE(v.anchors.size() == 1);
  CHECK(v.anchors[0].last_seq == 3);
  CHECK_FALSE(verify(path, "other").ok);

  SECTION("an anchor changed by someone without the key") {
    tamper(path, "UPDATE audit_anchor SET records = 2");
    CHECK_FALSE(verify(path, "k3y").ok);
    CHECK(contains(verify(path, "k3y").reason, "anchor 1"));
  }
}

TEST_CASE("a broken chain is not pruned") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 6, up_to(6));
  tamper(path, "UPDATE audit_statement SET rule = 'none' WHERE seq = 2");
  PruneResult result;
  std::string error;
  CHECK_FALSE(prune_audit(StoreLocation{.path = path},
                          PruneRequest{.before_us = ts_of(5), .now_us = kNow}, &result, &error));
  CHECK(result.chain_broken);
  CHECK(contains(error, "not pruned, the chain is broken at seq 2"));
  CHECK(query_row(path, "SELECT count(*) FROM audit_statement") == std::vector<int64_t>{6});
  CHECK(run({"audit", "prune", "--store", path, "--before", "2027-01-01"}) == 1);
}

TEST_CASE("verify accepts a prune interrupted after its anchor, and the next prune finishes it") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 6, up_to(6));
  prune(path, ts_of(4));
  // As if the prune had stopped before its deletes: the same records (their hashes are the same)
  // with the anchor.
  std::string copy = dir.file("copy.db");
  fill_with_outcomes(copy, 6, up_to(6));
  tamper(copy, "ATTACH '" + path + "' AS pruned; INSERT INTO audit_anchor SELECT * FROM "
               "pruned.audit_anchor; DETACH pruned");
  CHECK(verify(copy).ok);
  CHECK(query_row(copy, "SELECT count(*) FROM audit_statement") == std::vector<int64_t>{6});
  PruneResult next = prune(copy, ts_of(4));
  CHECK(next.anchors.empty());
  CHECK(query_row(copy, "SELECT count(*), min(seq) FROM audit_statement") ==
        std::vector<int64_t>{3, 4});
  CHECK(verify(copy).ok);
}

TEST_CASE("a store written before prunes is given its anchor table when opened") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 6, up_to(6));
  tamper(path, "DROP TABLE audit_anchor; "
               "CREATE TRIGGER audit_statement_no_delete BEFORE DELETE ON audit_statement "
               "BEGIN SELECT RAISE(ABORT, 'audit_statement is append-only'); END;");
  CHECK(verify(path).ok);  // read as it is
  PruneResult pruned = prune(path, ts_of(4));
  REQUIRE(pruned.anchors.size() == 1);
  CHECK(verify(path).ok);
}

TEST_CASE("a new store gives the pages a prune frees back to the file system") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    for (int i = 1; i <= 3000; ++i) {
      AuditRecord r = sample_record(i);
      r.statement.append(2000, 'x');
      append_sync(*store, r);
      store->append_outcome(Outcome{i, 1, "", "", 0.5, 0, "", ""});
    }
    store->close();
  }
  CHECK(query_row(path, "PRAGMA auto_vacuum") == std::vector<int64_t>{2});  // incremental
  auto before = std::filesystem::file_size(path);
  PruneResult pruned = prune(path, ts_of(2900));
  REQUIRE(pruned.anchors.size() == 1);
  CHECK(pruned.anchors[0].last_seq == 2899);
  auto after = std::filesystem::file_size(path);
  INFO(before << " -> " << after);
  CHECK(after < before / 4);
  CHECK(verify(path).ok);
}

TEST_CASE("audit prune on the command line") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 5, up_to(5));
  CHECK(run({"audit", "prune", "--store", path}) == 2);  // no --before
  CHECK(run({"audit", "prune", "--store", path, "--before", "yesterday"}) == 2);
  CHECK(run({"audit", "prune", "--store", dir.file("missing.db"), "--before", "1d"}) == 2);
  CHECK(run({"audit", "prune", "--store", path, "--before", "400000d"}) == 0);  // nothing so old
  CHECK(query_row(path, "SELECT count(*) FROM audit_statement") == std::vector<int64_t>{5});
  CHECK(run({"audit", "prune", "--store", path, "--before", "2026-11-18T11:06:44Z"}) == 0);
  CHECK(query_row(path, "SELECT count(*), min(seq) FROM audit_statement") ==
        std::vector<int64_t>{2, 4});
  CHECK(run({"audit", "prune", "--store", path, "--before", "1s"}) == 0);  // now - 1 s
  CHECK(query_row(path, "SELECT count(*), min(seq) FROM audit_statement") ==
        std::vector<int64_t>{1, 5});
  CHECK(run({"audit", "verify", "--store", path}) == 0);
}

TEST_CASE("a store created without auto-vacuum is pruned, and the prune says how to shrink it") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 6, up_to(6));
  tamper(path, "PRAGMA auto_vacuum = NONE; VACUUM;");
  REQUIRE(query_row(path, "PRAGMA auto_vacuum") == std::vector<int64_t>{0});
  PruneResult pruned = prune(path, ts_of(5));
  REQUIRE(pruned.anchors.size() == 1);
  REQUIRE(pruned.notes.size() == 1);
  CHECK(contains(pruned.notes[0], "created without incremental auto-vacuum"));
  CHECK(contains(pruned.notes[0], "'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;'"));
  CHECK(verify(path).ok);
}

TEST_CASE("a prune larger than an anchor's span writes several anchors in a row") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_with_outcomes(path, 10, up_to(10));
  PruneResult result;
  std::string error;
  REQUIRE(prune_audit(StoreLocation{.path = path},
                      PruneRequest{.before_us = ts_of(9), .now_us = kNow, .anchor_span = 3},
                      &result, &error));
  REQUIRE(result.anchors.size() == 3);
  CHECK(result.anchors[0].last_seq == 3);
  CHECK(result.anchors[1].first_seq == 4);
  CHECK(result.anchors[2].first_seq == 7);
  CHECK(result.anchors[2].last_seq == 8);
  VerifyResult v = verify(path);
  CHECK(v.ok);
  REQUIRE(v.anchors.size() == 1);
  CHECK(v.anchors[0].number == 3);
}
