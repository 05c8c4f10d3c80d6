#include <catch2/catch.hpp>

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

#include "store/chain.h"
#include "store/key_file.h"
#include "store/row.h"
#include "test/unit/store_testing.h"

using namespace pgw::store;
using namespace pgw::store::testing;

TEST_CASE("appends from several threads are all committed with distinct increasing seqs") {
  TempDir dir;
  auto store = open_store(dir.file("audit.db"));
  constexpr int kThreads = 4, kPerThread = 300;
  std::mutex mu;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        store->append(sample_record(i), [&, t](AppendResult r) {
          std::lock_guard lock(mu);
          if (!r.ok()) errors.push_back(r.error);
          seqs[t].push_back(r.seq);
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  store->close();  // commits everything queued
  CHECK(errors.empty());
  std::set<int64_t> all;
  for (const auto& s : seqs) {
    REQUIRE(s.size() == kPerThread);
    CHECK(std::is_sorted(s.begin(), s.end()));  // each caller's appends keep their order
    all.insert(s.begin(), s.end());
  }
  REQUIRE(all.size() == kThreads * kPerThread);
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == kThreads * kPerThread);
  check_chain_intact(dir.file("audit.db"), kThreads * kPerThread);
}

TEST_CASE("the chain continues across close and open") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_store(path, 3);
  auto store = open_store(path);
  CHECK(append_sync(*store, sample_record(4)).seq == 4);
  store->append_outcome(Outcome{4, 1, "", "", 2.5, 0, "", ""});
  CHECK(append_sync(*store, sample_record(5)).seq == 5);  // records only are numbered
  store->append_outcome(Outcome{5, 1, "", "", 2.5, 0, "", ""});
  store->close();
  store = open_store(path);
  store->append_outcome(Outcome{2, 1, "", "", 2.5, 0, "", ""});
  CHECK(append_sync(*store, sample_record(6)).seq == 6);
  store->close();
  check_chain_intact(path, 9);
}

TEST_CASE("fsync durability commits too") {
  TempDir dir;
  std::string error;
  auto store = AuditStore::open(Options{.path = dir.file("audit.db"), .durability = Durability::fsync}, &error);
  REQUIRE(store);
  CHECK(append_sync(*store, sample_record(1)).seq == 1);
  CHECK(append_sync(*store, sample_record(2)).seq == 2);
}

TEST_CASE("an append after close fails and says why") {
  TempDir dir;
  auto store = open_store(dir.file("audit.db"));
  store->close();
  AppendResult r = append_sync(*store, sample_record(1));
  CHECK_FALSE(r.ok());
  CHECK(r.error.find("closed") != std::string::npos);
}

TEST_CASE("a file that is not an audit store is refused") {
  TempDir dir;
  std::string path = dir.file("other.db");
  tamper(path, "CREATE TABLE customers (id INTEGER)");
  std::string error;
  CHECK(AuditStore::open(Options{.path = path}, &error) == nullptr);
  CHECK(error.find("not a pgwarden audit store") != std::string::npos);
  CHECK(error.find(path) != std::string::npos);
}

TEST_CASE("the store refuses direct updates and deletes") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_store(path, 2);
  {
    auto store = open_store(path);
    store->append_outcome(Outcome{1, 1, "", "", 0.5, 0, "", ""});
    store->close();
  }
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  for (std::string table : {"audit_session", "audit_statement", "audit_outcome"}) {
    INFO(table);
    CHECK(sqlite3_exec(db, ("UPDATE " + table + " SET hash = hash").c_str(), nullptr, nullptr,
                       nullptr) != SQLITE_OK);
    CHECK(sqlite3_exec(db, ("DELETE FROM " + table).c_str(), nullptr, nullptr, nullptr) ==
          SQLITE_CONSTRAINT);
  }
  sqlite3_close(db);
}

TEST_CASE("verify passes an untouched store and finds each kind of tampering") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_store(path, 5);
  CHECK(verify(path).ok);
  CHECK(verify(path).rows_checked == 5);

  SECTION("a changed statement") {
    tamper(path, "UPDATE audit_statement SET statement = CAST('DROP TABLE t' AS BLOB) WHERE seq = 3");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 3);
    CHECK(v.rows_checked == 2);
    CHECK(v.reason.find("hash mismatch") != std::string::npos);
  }
  SECTION("a deleted row in the middle") {
    tamper(path, "DELETE FROM audit_statement WHERE seq = 3");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 3);
    CHECK(v.reason.find("seq gap") != std::string::npos);
  }
  SECTION("the last row deleted") {
    tamper(path, "DELETE FROM audit_statement WHERE seq = 5");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 5);
    CHECK(v.reason.find("removed from the end") != std::string::npos);
  }
  SECTION("two rows' contents swapped") {
    tamper(path,
           "UPDATE audit_statement SET statement = (SELECT statement FROM audit_statement WHERE seq = 3) "
           "WHERE seq = 2; "
           "UPDATE audit_statement SET statement = CAST('INSERT INTO t VALUES (2)' AS BLOB) "
           "WHERE seq = 3");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 2);
  }
  SECTION("two whole rows, hashes included, swapped") {
    tamper(path,
           "UPDATE audit_statement SET seq = 100 WHERE seq = 2; "
           "UPDATE audit_statement SET seq = 2 WHERE seq = 3; "
           "UPDATE audit_statement SET seq = 3 WHERE seq = 100");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 2);
  }
  SECTION("a forged row with a copied hash") {
    tamper(path,
           "INSERT INTO audit_statement SELECT 6, session, ts_us, protocol, command, classes, "
           "tables_read, tables_written, fingerprint, CAST('DELETE FROM t' AS BLOB), parameters, "
           "decision, rule, approver, expires_us, hash FROM audit_statement WHERE seq = 5");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 6);
  }
  SECTION("a session's row changed") {
    tamper(path,
           "UPDATE audit_session SET principal = 'someone-else' "
           "WHERE id = (SELECT session FROM audit_statement WHERE seq = 2)");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 2);
    CHECK(v.reason.find("session") != std::string::npos);
  }
  SECTION("a record moved to another session") {
    tamper(path,
           "UPDATE audit_statement SET session = (SELECT session FROM audit_statement WHERE "
           "seq = 1) WHERE seq = 2");  // job-1's session for a record of job-2
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 2);
  }
  SECTION("a forged row whose SHA-256 hash is correct is past the chain head") {
    AuditRecord forged = sample_record(6);
    std::string canonical;
    encode_record(6, "", *forged.session, forged, &canonical);
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    // Record 3's session has the same fields as the forged record's (job-0).
    sqlite3_prepare_v2(db, "SELECT hash, (SELECT session FROM audit_statement WHERE seq = 3) "
                       "FROM audit_statement WHERE seq = 5", -1, &stmt, nullptr);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    std::string prev(static_cast<const char*>(sqlite3_column_blob(stmt, 0)),
                     sqlite3_column_bytes(stmt, 0));
    int64_t session = sqlite3_column_int64(stmt, 1);
    sqlite3_finalize(stmt);
    std::string hash = ChainHasher("").next(prev, canonical);
    sqlite3_prepare_v2(db, kInsertRecordSql, -1, &stmt, nullptr);
    REQUIRE(bind_record(stmt, 6, session, forged, hash) == SQLITE_OK);
    CHECK(sqlite3_step(stmt) == SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.rows_checked == 6);  // the chain itself holds: only the head betrays the row
    CHECK(v.bad_seq == 6);
    CHECK(v.reason.find("added after") != std::string::npos);
  }
}

TEST_CASE("the records of one session share one session row") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  SessionRef session = sample_session("ci:acme/app@main", "job-1");
  {
    auto store = open_store(path);
    for (int i = 1; i <= 3; ++i) append_sync(*store, sample_record(i, "", session));
    append_sync(*store, sample_record(4));
    store->close();
  }
  CHECK(query_row(path, "SELECT count(DISTINCT session) FROM audit_statement")[0] == 2);
  CHECK(query_row(path, "SELECT count(*) FROM audit_session")[0] == 2);
  check_chain_intact(path, 4);
}

TEST_CASE("outcomes are chained in the order they were written") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    for (int i = 1; i <= 4; ++i) append_sync(*store, sample_record(i));
    // Outcomes arrive in any order; a second one for a record is not kept.
    for (int64_t seq : {2, 1, 4, 3}) store->append_outcome(Outcome{seq, seq, "", "", 1.25, 0, "", ""});
    store->append_outcome(Outcome{2, 99, "", "", 1.25, 0, "", ""});
    append_sync(*store, sample_record(5));
    store->close();
  }
  CHECK(verify(path).ok);
  CHECK(verify(path).rows_checked == 9);

  SECTION("a changed outcome") {
    tamper(path, "UPDATE audit_outcome SET row_count = 0 WHERE seq = 4");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 4);
    CHECK(v.reason.find("outcome") != std::string::npos);
  }
  SECTION("an outcome removed from the middle of its chain") {
    tamper(path, "DELETE FROM audit_outcome WHERE seq = 1");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 4);  // written after the outcome of record 1
    CHECK(v.reason.find("removed") != std::string::npos);
  }
  SECTION("the last outcome removed") {
    tamper(path, "DELETE FROM audit_outcome WHERE seq = 3");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.bad_seq == 3);
    CHECK(v.reason.find("removed") != std::string::npos);
  }
  SECTION("an outcome moved to another record") {
    tamper(path, "UPDATE audit_outcome SET seq = 5 WHERE seq = 3");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
  }
  SECTION("an outcome inserted beside another") {
    tamper(path, "INSERT INTO audit_outcome SELECT 5, prev, row_count, sqlstate, error, "
                 "duration_ms, masked_values, decision, approver, hash FROM audit_outcome "
                 "WHERE seq = 4");
    VerifyResult v = verify(path);
    CHECK_FALSE(v.ok);
    CHECK(v.reason.find("both follow") != std::string::npos);
  }
}

TEST_CASE("an HMAC chain verifies only with its key") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  fill_store(path, 3, "secret-key");
  CHECK(verify(path, "secret-key").ok);

  VerifyResult wrong = verify(path, "other-key");
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.bad_seq == 1);
  CHECK(wrong.reason.find("key") != std::string::npos);

  std::string error;
  VerifyResult keyless = verify_audit(StoreLocation{.path = path}, "", &error);
  CHECK_FALSE(keyless.ok);
  CHECK(error.find("--key-file") != std::string::npos);

  CHECK(AuditStore::open(Options{.path = path, .hmac_key = "other-key"}, &error) == nullptr);
  CHECK(error.find("not the key this store was created with") != std::string::npos);
  CHECK(AuditStore::open(Options{.path = path}, &error) == nullptr);
  CHECK(error.find("hmac-sha256") != std::string::npos);
}

TEST_CASE("the hasher gives the standard SHA-256 and HMAC-SHA-256, row after row") {
  ChainHasher sha("");
  for (int i = 0; i < 2; ++i) {
    CHECK(to_hex(sha.next("ab", "c")) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
  ChainHasher hmac("Jefe");  // RFC 4231 test case 2
  for (int i = 0; i < 2; ++i) {
    CHECK(to_hex(hmac.next("what do ya", " want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }
}

TEST_CASE("the canonical encoding tells field boundaries and absent values apart") {
  AuditRecord r = sample_record(1);
  SessionRecord a = *r.session, b = a;
  a.principal = std::string("ab");
  a.attribution = std::string("c");
  b.principal = std::string("a");
  b.attribution = std::string("bc");
  std::string ea, eb, ei;
  encode_record(1, "", a, r, &ea);
  encode_record(1, "", b, r, &eb);
  encode_record(1, "gw-2", a, r, &ei);
  CHECK(ea != eb);
  CHECK(ea != ei);
  Outcome none{1, std::nullopt, "", "", 0, 0, "", ""}, zero{1, 0, "", "", 0, 0, "", ""};
  std::string en, ez;
  encode_outcome(0, none, &en);
  encode_outcome(0, zero, &ez);
  CHECK(en != ez);
}

TEST_CASE("a key file loses one trailing line ending only") {
  TempDir dir;
  std::string key, error;
  auto write = [&](const std::string& text) {
    FILE* f = std::fopen(dir.file("k").c_str(), "wb");
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  };
  write("abc\r\n");
  REQUIRE(read_key_file(dir.file("k"), &key, &error));
  CHECK(key == "abc");
  write("abc \n\n");
  REQUIRE(read_key_file(dir.file("k"), &key, &error));
  CHECK(key == "abc \n");
  write("\n");
  CHECK_FALSE(read_key_file(dir.file("k"), &key, &error));
  CHECK(error.find("empty") != std::string::npos);
  CHECK_FALSE(read_key_file(dir.file("missing"), &key, &error));
  CHECK(error.find(dir.file("missing")) != std::string::npos);
}
