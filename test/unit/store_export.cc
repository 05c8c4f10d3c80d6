#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

#include "test/unit/store_testing.h"

using namespace pgw::store;
using namespace pgw::store::testing;

namespace {

const std::vector<std::string> kHeader = {
    "seq",        "ts",          "principal",      "attribution",      "job_id",
    "commit",     "session_id",  "client_addr",    "database",         "upstream_role",
    "application_name", "protocol", "command",     "classes",          "tables_read",
    "tables_written", "fingerprint", "statement",  "parameters",       "decision",
    "rule",       "approver",    "rows",           "sqlstate",         "error",
    "duration_ms", "masked_values", "hash", "instance"};

std::string export_text(const std::string& path, ExportFormat format,
                        const ExportFilter& filter = {}) {
  std::ostringstream out;
  std::string error;
  bool ok = export_audit(StoreLocation{.path = path}, filter, format, out, &error);
  INFO(error);
  REQUIRE(ok);
  return out.str();
}

std::vector<std::vector<std::string>> export_csv(const std::string& path,
                                                 const ExportFilter& filter = {}) {
  auto rows = parse_csv(export_text(path, ExportFormat::csv, filter));
  REQUIRE(!rows.empty());
  CHECK(rows[0] == kHeader);
  rows.erase(rows.begin());
  return rows;
}

// The seq column of each exported row.
std::vector<std::string> seqs_of(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> out;
  for (const auto& row : rows) out.push_back(row[0]);
  return out;
}

const std::vector<std::string> kAwkwardStatements = {
    "SELECT 'it''s', \"quoted\" FROM t",
    "SELECT a, b, c FROM t",
    "SELECT 1;\r\nSELECT 2;\nSELECT 3;\r",
    "SELECT 'Grüße, 日本語, emoji \xF0\x9F\x98\x80'",
    std::string("SELECT E'a\\0b' -- \0 embedded NUL\0", 33),
    "",
    "\"",
};

}  // namespace

TEST_CASE("CSV export round-trips awkward statements byte for byte") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    for (size_t i = 0; i < kAwkwardStatements.size(); ++i) {
      AuditRecord r = sample_record(int(i));
      r.statement = kAwkwardStatements[i];
      r.parameters = R"(["a,b","c\"d"])";
      REQUIRE(append_sync(*store, r).ok());
    }
  }
  std::string text = export_text(path, ExportFormat::csv);
  CHECK(text.ends_with("\r\n"));
  auto rows = export_csv(path);
  REQUIRE(rows.size() == kAwkwardStatements.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    REQUIRE(rows[i].size() == kHeader.size());
    CHECK(rows[i][0] == std::to_string(i + 1));
    CHECK(rows[i][17] == kAwkwardStatements[i]);
    CHECK(rows[i][18] == R"(["a,b","c\"d"])");
    CHECK(rows[i][27].size() == 64);  // hex SHA-256
  }
}

TEST_CASE("CSV fields are quoted only when they must be") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    AuditRecord r = sample_record(0);
    r.ts_us = 1'795'426'491'123'456;
    r.statement = "SELECT 1";
    append_sync(*store, r);
  }
  std::string text = export_text(path, ExportFormat::csv);
  std::string line = text.substr(text.find("\r\n") + 2);
  CHECK(line.starts_with("1,2026-11-23T09:34:51.123456Z,ci:acme/app@main,verified,job-0,"));
  CHECK(line.find(",SELECT 1,,allow,r1,,,,,,,") != std::string::npos);
}

TEST_CASE("CSV and JSON Lines replace invalid UTF-8 alike, and keep valid UTF-8 as it is") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    AuditRecord r = sample_record(0);
    r.statement = "SELECT 'café'";
    r.parameters = "[\"a\xff\xfe" "b\"]";
    append_sync(*store, r);
  }
  std::string csv = export_text(path, ExportFormat::csv);
  CHECK(csv.find(",SELECT 'café',") != std::string::npos);
  const std::string replaced = std::string("a") + "\xEF\xBF\xBD\xEF\xBF\xBD" + "b";  // a U+FFFD per invalid byte
  CHECK(csv.find("\"[\"\"" + replaced + "\"\"]\"") != std::string::npos);
  nlohmann::json line = nlohmann::json::parse(export_text(path, ExportFormat::jsonl));
  CHECK(line["parameters"] == "[\"" + replaced + "\"]");
  CHECK(nlohmann::json::parse(line["parameters"].get<std::string>())[0] == replaced);
}

TEST_CASE("JSON Lines export escapes strings and types the numbers") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    for (size_t i = 0; i < kAwkwardStatements.size(); ++i) {
      AuditRecord r = sample_record(int(i));
      r.statement = kAwkwardStatements[i];
      r.rule = "tab\there \x01 \\ /";
      append_sync(*store, r);
    }
    AuditRecord bad_utf8 = sample_record(9);
    bad_utf8.statement = "SELECT '\xff\xfe'";
    append_sync(*store, bad_utf8);
    store->append_outcome(Outcome{1, 3, "", "", 12.3456, 2, "", ""});
  }
  std::istringstream lines(export_text(path, ExportFormat::jsonl));
  std::string line;
  std::vector<nlohmann::json> objects;
  while (std::getline(lines, line)) objects.push_back(nlohmann::json::parse(line));
  REQUIRE(objects.size() == kAwkwardStatements.size() + 1);
  for (size_t i = 0; i < kAwkwardStatements.size(); ++i) {
    CHECK(objects[i]["statement"].get<std::string>() == kAwkwardStatements[i]);
    CHECK(objects[i]["rule"].get<std::string>() == "tab\there \x01 \\ /");
    CHECK(objects[i].size() == kHeader.size());
  }
  CHECK(objects[0]["seq"] == 1);
  CHECK(objects[0]["rows"] == 3);
  CHECK(objects[0]["duration_ms"].get<double>() == Approx(12.346));
  CHECK(objects[0]["masked_values"] == 2);
  CHECK(objects[1]["rows"].is_null());
  CHECK(objects[1]["duration_ms"].is_null());
  CHECK(objects.back()["statement"].get<std::string>() == "SELECT '\xEF\xBF\xBD\xEF\xBF\xBD'");
}

TEST_CASE("an outcome is joined to its record, its decision and approver taking precedence") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    AuditRecord held = sample_record(1);
    held.decision = "hold";
    append_sync(*store, held);
    append_sync(*store, sample_record(2));
    store->append_outcome(Outcome{1, 42, "", "", 1.5, 3, "approved", "dba:alice;dba:bob"});
    store->append_outcome(Outcome{2, std::nullopt, "42P01", "relation \"t\" does not exist",
                                  0.25, 0, "", ""});
  }
  auto rows = export_csv(path);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0][19] == "approved");
  CHECK(rows[0][21] == "dba:alice;dba:bob");
  CHECK(rows[0][22] == "42");
  CHECK(rows[0][25] == "1.500");
  CHECK(rows[0][26] == "3");
  CHECK(rows[1][19] == "allow");
  CHECK(rows[1][22] == "");
  CHECK(rows[1][23] == "42P01");
  CHECK(rows[1][24] == "relation \"t\" does not exist");
  CHECK(rows[1][25] == "0.250");
}

TEST_CASE("export filters by principal glob, time, job and effective decision") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    append_sync(*store, sample_record(1, "ci:acme/app@main"));    // job-1, seq 1
    append_sync(*store, sample_record(2, "dba:alice"));           // job-2, seq 2
    append_sync(*store, sample_record(3, "ci:acme/web@main"));    // job-0, seq 3
    append_sync(*store, sample_record(4, "ci:acme/app?x"));       // job-1, seq 4
    store->append_outcome(Outcome{3, 0, "", "", 1, 0, "rejected", "dba:bob"});
  }
  auto seqs = [&](ExportFilter f) { return seqs_of(export_csv(path, f)); };
  auto with = [](auto set) {
    ExportFilter f;
    set(f);
    return f;
  };
  using V = std::vector<std::string>;
  CHECK(seqs({}) == V{"1", "2", "3", "4"});
  CHECK(seqs(with([&](ExportFilter& f) { f.principal_glob = "ci:*"; })) == V{"1", "3", "4"});
  CHECK(seqs(with([&](ExportFilter& f) { f.principal_glob = "*@main"; })) == V{"1", "3"});
  // `?` and `[` match themselves only
  CHECK(seqs(with([&](ExportFilter& f) { f.principal_glob = "ci:acme/app?x"; })) == V{"4"});
  CHECK(seqs(with([&](ExportFilter& f) { f.principal_glob = "ci:acme/ap?@main"; })) == V{});
  CHECK(seqs(with([&](ExportFilter& f) { f.principal_glob = "ci:acme/[aw]*"; })) == V{});
  CHECK(seqs(with([&](ExportFilter& f) { f.principal_glob = "ci:acme/app"; })) == V{});
  int64_t t2 = sample_record(2).ts_us, t3 = sample_record(3).ts_us;
  CHECK(seqs(with([&](ExportFilter& f) { f.since_us = t2; })) == V{"2", "3", "4"});
  CHECK(seqs(with([&](ExportFilter& f) { f.until_us = t3; })) == V{"1", "2"});
  CHECK(seqs(with([&](ExportFilter& f) { f.since_us = t2; f.until_us = t3; })) == V{"2"});
  CHECK(seqs(with([&](ExportFilter& f) { f.job_id = "job-1"; })) == V{"1", "4"});
  CHECK(seqs(with([&](ExportFilter& f) { f.decision = "rejected"; })) == V{"3"});
  CHECK(seqs(with([&](ExportFilter& f) { f.decision = "allow"; })) == V{"1", "2", "4"});
  CHECK(seqs(with([&](ExportFilter& f) {
          f.principal_glob = "ci:*";
          f.job_id = "job-1";
          f.decision = "allow";
        })) ==
        V{"1", "4"});
}

TEST_CASE("read_audit hands over the rows export writes, filtered alike") {
  TempDir dir;
  std::string path = dir.file("audit.db");
  {
    auto store = open_store(path);
    append_sync(*store, sample_record(1, "ci:acme/app@main"));
    append_sync(*store, sample_record(2, "dba:alice"));
    store->append_outcome(Outcome{2, std::nullopt, "42P01", "no such table", 0.5, 0, "", ""});
  }
  std::vector<ExportCells> rows;
  std::string error;
  REQUIRE(read_audit(StoreLocation{.path = path}, {},
                     [&](const ExportCells& row) { rows.push_back(row); }, &error));
  std::vector<std::vector<std::string>> exported = export_csv(path);
  REQUIRE(rows.size() == exported.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    CHECK(std::vector<std::string>(rows[i].begin(), rows[i].end()) == exported[i]);
  }
  CHECK(rows[1][export_column::principal] == "dba:alice");
  CHECK(rows[1][export_column::sqlstate] == "42P01");
  CHECK(rows[1][export_column::instance] == exported[1].back());
  rows.clear();
  ExportFilter only_ci;
  only_ci.principal_glob = "ci:*";
  REQUIRE(read_audit(StoreLocation{.path = path}, only_ci,
                     [&](const ExportCells& row) { rows.push_back(row); }, &error));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][export_column::seq] == "1");
  CHECK_FALSE(read_audit(StoreLocation{.path = dir.file("none.db")}, {},
                         [](const ExportCells&) {}, &error));
  CHECK(error.find(dir.file("none.db")) != std::string::npos);
}

TEST_CASE("export of a missing or foreign file fails naming it") {
  TempDir dir;
  std::ostringstream out;
  std::string error;
  CHECK_FALSE(
      export_audit(StoreLocation{.path = dir.file("none.db")}, {}, ExportFormat::csv, out, &error));
  CHECK(error.find(dir.file("none.db")) != std::string::npos);
  tamper(dir.file("other.db"), "CREATE TABLE x (y)");
  CHECK_FALSE(export_audit(StoreLocation{.path = dir.file("other.db")}, {}, ExportFormat::csv, out,
                           &error));
  CHECK(error.find("not a pgwarden audit store") != std::string::npos);
}

TEST_CASE("a time argument that does not parse is named with the forms it takes") {
  std::string error;
  CHECK(parse_time_argument("--since", "2026-11-23", &error) == parse_ts("2026-11-23"));
  CHECK(error.empty());
  CHECK_FALSE(parse_time_argument("--since", "yesterday", &error));
  CHECK(error == "--since \"yesterday\" is neither an RFC 3339 time (2026-11-23T09:34:51Z) nor a "
                 "date (2026-11-23)");
}

TEST_CASE("timestamps format as RFC 3339 UTC with microseconds and parse back") {
  CHECK(format_ts(0) == "1970-01-01T00:00:00.000000Z");
  CHECK(format_ts(1'795'426'491'123'456) == "2026-11-23T09:34:51.123456Z");
  CHECK(format_ts(-1) == "1969-12-31T23:59:59.999999Z");
  CHECK(parse_ts("2026-11-23T09:34:51.123456Z") == 1'795'426'491'123'456);
  CHECK(parse_ts("2026-11-23") == 1'795'392'000'000'000);
  CHECK(parse_ts("2026-11-23T09:34:51Z") == 1'795'426'491'000'000);
  CHECK(parse_ts("2026-11-23 09:34:51.1z") == 1'795'426'491'100'000);
  CHECK(parse_ts("2026-11-23T10:34:51.123456+01:00") == 1'795'426'491'123'456);
  CHECK(parse_ts("2026-11-23T04:04:51.123456-05:30") == 1'795'426'491'123'456);
  CHECK(parse_ts("2024-02-29") == 1'709'164'800'000'000);
  for (const char* bad : {"", "2026-11", "2026-02-30", "2026-13-01", "2026-11-23T25:00:00Z",
                          "2026-11-23T09:34:51", "2026-11-23T09:34:51.Z", "yesterday",
                          "2026-11-23T09:34:51Z junk", "2026-11-23T09:34:51+1:00"}) {
    INFO(bad);
    CHECK_FALSE(parse_ts(bad).has_value());
  }
}
