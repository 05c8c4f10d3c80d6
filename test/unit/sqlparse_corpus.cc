// Checks every entry of test/corpus/statements.txt against parse(). The file's header
// describes the format.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sqlparse/facts.h"
#include "test/corpus/corpus_sql.h"

namespace {

using Fields = std::map<std::string, std::string>;

// One corpus entry: the SQL, the search path to parse it with, and the expected facts per
// statement index.
struct Entry {
  int line = 0;
  std::string sql;
  std::vector<std::string> search_path;
  Fields whole;                       // statements, error, error_position
  std::map<size_t, Fields> expected;  // statement index -> field -> value
};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<Entry> load(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<Entry> entries;
  size_t statement = 0;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.front() == '[' && t.back() == ']') {
      statement = std::stoul(t.substr(1, t.size() - 2));
      continue;
    }
    size_t colon = t.find(':');
    INFO(path << ":" << number);
    REQUIRE(colon != std::string::npos);
    std::string key = t.substr(0, colon), value = trim(t.substr(colon + 1));
    if (key == "sql") {
      entries.push_back(Entry{number, pgw::corpus::unescape(value), {}, {}, {}});
      statement = 0;
      continue;
    }
    REQUIRE(!entries.empty());
    Entry& e = entries.back();
    if (key == "search_path") e.search_path = words(value);
    else if (key == "statements" || key == "error" || key == "error_position") e.whole[key] = value;
    else e.expected[statement][key] = value;
  }
  return entries;
}

// The field's words as a sorted set; `fallback` when the entry does not give the field.
std::vector<std::string> expected_set(const Fields& f, const std::string& key, std::vector<std::string> fallback = {}) {
  auto it = f.find(key);
  std::vector<std::string> out = it == f.end() ? fallback : words(it->second);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string field(const Fields& f, const std::string& key, const std::string& fallback = "") {
  auto it = f.find(key);
  return it == f.end() ? fallback : it->second;
}

// An optional name: absent -> not set; "-" -> set to "".
std::optional<std::string> expected_name(const Fields& f, const std::string& key) {
  auto it = f.find(key);
  if (it == f.end()) return std::nullopt;
  return it->second == "-" ? "" : it->second;
}

void check_statement(const std::string& sql, const pgw::sql::StatementFacts& s, const Fields& f) {
  CHECK(s.command == field(f, "command"));
  CHECK(sorted(s.commands) == expected_set(f, "commands", {field(f, "command")}));
  CHECK(sorted(s.classes) == expected_set(f, "classes"));
  CHECK(sorted(s.tables_read) == expected_set(f, "reads"));
  CHECK(sorted(s.tables_written) == expected_set(f, "writes"));
  CHECK(sorted(s.tables_named) == expected_set(f, "named"));
  CHECK(s.lock_mode == field(f, "lock_mode"));
  CHECK(sorted(s.functions) == expected_set(f, "functions"));
  if (f.count("columns")) CHECK(sorted(s.columns) == expected_set(f, "columns"));
  CHECK(s.where_absent == (field(f, "where_absent", "no") == "yes"));
  if (f.count("range")) {
    std::vector<std::string> r = words(field(f, "range"));
    REQUIRE(r.size() == 2);
    CHECK(s.offset == std::stoul(r[0]));
    CHECK(s.length == std::stoul(r[1]));
  }
  if (f.count("text")) CHECK(sql.substr(s.offset, s.length) == pgw::corpus::unescape(field(f, "text")));
  CHECK(s.prepares == expected_name(f, "prepares"));
  CHECK(s.executes == expected_name(f, "executes"));
  CHECK(s.deallocates == expected_name(f, "deallocates"));
  if (f.count("sets_search_path")) {
    std::vector<std::string> path = words(field(f, "sets_search_path"));
    if (path == std::vector<std::string>{"-"}) path.clear();
    REQUIRE(s.sets_search_path);
    CHECK(*s.sets_search_path == path);
  } else {
    CHECK(!s.sets_search_path);
  }
  CHECK(s.fingerprint.size() == 16);
}

}  // namespace

TEST_CASE("corpus: every entry parses to its expected facts") {
  std::vector<Entry> entries = load(std::string(PGW_SOURCE_DIR) + "/test/corpus/statements.txt");
  size_t statements = 0;
  for (const Entry& e : entries) {
    INFO("test/corpus/statements.txt:" << e.line << ": " << e.sql);
    pgw::sql::ParseResult r = pgw::sql::parse(e.sql, e.search_path);
    if (e.whole.count("error")) {
      CHECK(r.error.find(e.whole.at("error")) != std::string::npos);
      if (e.whole.count("error_position")) CHECK(r.error_position == std::stoi(e.whole.at("error_position")));
      CHECK(r.statements.empty());
      continue;
    }
    REQUIRE(r.ok());
    REQUIRE(r.statements.size() == std::stoul(field(e.whole, "statements", "1")));
    for (const auto& [index, fields] : e.expected) {
      INFO("statement " << index);
      REQUIRE(index < r.statements.size());
      check_statement(e.sql, r.statements[index], fields);
      for (const std::string& kind : r.statements[index].commands)
        CHECK(std::binary_search(pgw::sql::known_commands().begin(), pgw::sql::known_commands().end(), kind));
    }
    statements += r.statements.size();
  }
  CHECK(entries.size() >= 200);
  CHECK(statements >= entries.size());
}
