// Helpers shared by the store unit tests: temporary stores, sample records, synchronous appends,
// raw SQL for tampering, and an RFC 4180 reader to check exports byte for byte.
#pragma once

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/audit.h"

namespace pgw::store::testing {

// A fresh directory removed with everything in it at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pgw_store_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline SessionRef sample_session(const std::string& principal, const std::string& job_id) {
  return std::make_shared<const SessionRecord>(SessionRecord{.principal = principal,
                                                             .attribution = "verified",
                                                             .job_id = job_id,
                                                             .commit = "3f2a9c1",
                                                             .session_id = "s1",
                                                             .client_addr = "127.0.0.1:5000",
                                                             .database = "app",
                                                             .upstream_role = "migrator",
                                                             .application_name = "psql"});
}

// Record `i` of a session of its own (job "job-<i % 3>"), or of `session` when given.
inline AuditRecord sample_record(int i, const std::string& principal = "ci:acme/app@main",
                                 SessionRef session = nullptr) {
  AuditRecord r;
  r.ts_us = 1'795'000'000'000'000 + int64_t(i) * 1'000'000;
  r.session = session ? std::move(session) : sample_session(principal, "job-" + std::to_string(i % 3));
  r.protocol = "simple";
  r.command = "INSERT";
  r.classes = "dml;write";
  r.tables_read = "";
  r.tables_written = "public.t";
  r.fingerprint = "abcd";
  r.statement = "INSERT INTO t VALUES (" + std::to_string(i) + ")";
  r.decision = "allow";
  r.rule = "r1";
  return r;
}

// Appends and waits for the commit.
inline AppendResult append_sync(AuditStore& store, AuditRecord record) {
  std::promise<AppendResult> done;
  auto result = done.get_future();
  store.append(std::move(record), [&done](AppendResult r) { done.set_value(std::move(r)); });
  return result.get();
}

inline std::unique_ptr<AuditStore> open_store(const std::string& path,
                                              const std::string& key = "") {
  std::string error;
  auto store = AuditStore::open(Options{.path = path, .hmac_key = key}, &error);
  if (!store) throw std::runtime_error(error);
  return store;
}

// A store whose appends are committed by the thread that calls flush(), as the proxy's loops do.
inline std::unique_ptr<AuditStore> open_flushed(const std::string& path) {
  std::string error;
  auto store = AuditStore::open(Options{.path = path, .commit_on_flush = true}, &error);
  if (!store) throw std::runtime_error(error);
  return store;
}

// What `audit verify` finds in the store at `path`, which it must be able to read.
inline VerifyResult verify(const std::string& path, const std::string& key = "") {
  std::string error;
  VerifyResult v = verify_audit(StoreLocation{.path = path}, key, &error);
  INFO(error);
  REQUIRE(error.empty());
  return v;
}

// Checks that `audit verify` reads the store at `path` and finds its chains of `rows` rows
// (records and outcomes) intact.
inline void check_chain_intact(const std::string& path, int64_t rows, const std::string& key = "") {
  std::string error;
  VerifyResult v = verify_audit(StoreLocation{.path = path}, key, &error);
  INFO(path << ": " << error << v.reason);
  CHECK(error.empty());
  CHECK(v.ok);
  CHECK(v.rows_checked == rows);
}

// Creates a store at `path` holding `n` sample records (seq 1..n) and closes it.
inline void fill_store(const std::string& path, int n, const std::string& key = "") {
  auto store = open_store(path, key);
  for (int i = 1; i <= n; ++i) append_sync(*store, sample_record(i));
  store->close();
}

// The integer columns of the first row `sql` returns, read on a connection of its own through
// SQLite's default VFS, as `audit export` reads the store.
inline std::vector<int64_t> query_row(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  std::vector<int64_t> row;
  for (int i = 0; i < sqlite3_column_count(stmt); ++i) row.push_back(sqlite3_column_int64(stmt, i));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return row;
}

// Runs SQL on the file behind the store's back, as someone tampering with it would, after
// dropping the append-only triggers. Throws on error.
inline void tamper(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  std::string all;
  for (const char* table : {"audit_session", "audit_statement", "audit_outcome", "audit_anchor"}) {
    all += std::string("DROP TRIGGER IF EXISTS ") + table + "_no_update; DROP TRIGGER IF EXISTS " +
           table + "_no_delete; ";
  }
  all += sql;
  char* message = nullptr;
  int rc = sqlite3_exec(db, all.c_str(), nullptr, nullptr, &message);
  std::string error = message ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error(error);
}

// Parses RFC 4180 CSV with CRLF record ends into rows of fields.
inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  size_t i = 0;
  while (i < text.size()) {
    std::string& field = rows.back().back();
    if (text[i] == '"') {
      for (++i; i < text.size(); ++i) {
        if (text[i] == '"' && i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else if (text[i] == '"') {
          ++i;
          break;
        } else {
          field += text[i];
        }
      }
    } else if (text[i] == ',') {
      rows.back().emplace_back();
      ++i;
    } else if (text.compare(i, 2, "\r\n") == 0) {
      rows.emplace_back(1);
      i += 2;
    } else {
      field += text[i++];
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

}  // namespace pgw::store::testing
