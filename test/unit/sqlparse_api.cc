// parse() beyond the corpus: options, fingerprints, errors, threads, the list of kinds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "sqlparse/facts.h"
#include "sqlparse/identifier_list.h"
#include "sqlparse/kinds.h"

using pgw::sql::parse;
using pgw::sql::ParseOptions;

TEST_CASE("fingerprint is on by default and ignores literals") {
  auto a = parse("SELECT * FROM users WHERE id = 1", {});
  auto b = parse("select *  from users where id = 99", {});
  REQUIRE(a.statements.size() == 1);
  REQUIRE(b.statements.size() == 1);
  CHECK(a.statements[0].fingerprint.size() == 16);
  CHECK(a.statements[0].fingerprint == b.statements[0].fingerprint);
  CHECK(a.statements[0].fingerprint != parse("SELECT * FROM orders WHERE id = 1", {}).statements[0].fingerprint);
  CHECK(a.statements[0].fingerprint == pgw::sql::fingerprint("SELECT * FROM users WHERE id = 7"));
  CHECK(a.statements[0].normalized.empty());
}

TEST_CASE("options turn fingerprint off and normalization on") {
  ParseOptions options;
  options.fingerprint = false;
  options.normalize = true;
  auto r = parse("SELECT 1; DELETE FROM t WHERE name = 'bob' AND id = 3", {}, options);
  REQUIRE(r.statements.size() == 2);
  CHECK(r.statements[0].fingerprint.empty());
  CHECK(r.statements[0].normalized == "SELECT $1");
  CHECK(r.statements[1].normalized == "DELETE FROM t WHERE name = $1 AND id = $2");
  CHECK(pgw::sql::normalize("UPDATE t SET a = 'x'") == "UPDATE t SET a = $1");
  CHECK(pgw::sql::normalize("UPDATE t SET").empty());
  CHECK(pgw::sql::fingerprint("UPDATE t SET").empty());
}

TEST_CASE("each statement of a string has its own fingerprint") {
  auto r = parse("SELECT 1; DROP TABLE t", {});
  REQUIRE(r.statements.size() == 2);
  CHECK(r.statements[1].fingerprint == parse("DROP TABLE t", {}).statements[0].fingerprint);
  CHECK(r.statements[0].fingerprint != r.statements[1].fingerprint);
}

TEST_CASE("a parse error gives the message and the byte position") {
  auto r = parse("SELECT 'ü', 'é' FROM FROM t", {});
  CHECK_FALSE(r.ok());
  CHECK(r.error == "syntax error at or near \"FROM\"");
  CHECK(r.error_position == 24);  // 1-based bytes: both accented letters are two bytes
  CHECK(r.statements.empty());
}

TEST_CASE("a zero byte in the text is refused, not cut short") {
  std::string sql("SELECT 1;\0DROP TABLE t", 22);
  auto r = parse(sql, {});
  CHECK_FALSE(r.ok());
  CHECK(r.error_position == 10);
}

TEST_CASE("SET search_path then resolving with the path it set") {
  auto set = parse("SET search_path = s, \"B\"", {});
  REQUIRE(set.statements.size() == 1);
  REQUIRE(set.statements[0].sets_search_path);
  std::vector<std::string> path = *set.statements[0].sets_search_path;
  CHECK(path == std::vector<std::string>{"s", "B"});
  auto r = parse("INSERT INTO t SELECT * FROM other.u, v", path);
  CHECK(r.statements[0].tables_written == std::vector<std::string>{"s.t"});
  CHECK(r.statements[0].tables_read == std::vector<std::string>{"other.u", "s.v"});
  CHECK(parse("SELECT * FROM t", {}).statements[0].tables_read == std::vector<std::string>{"public.t"});
  CHECK(parse("SELECT * FROM t", {"$user"}).statements[0].tables_read == std::vector<std::string>{"public.t"});
}

TEST_CASE("command is the top-level kind and leads commands") {
  auto r = parse("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", {});
  const auto& f = r.statements.at(0);
  CHECK(f.command == "select");
  CHECK(f.commands == std::vector<std::string>{"select", "delete"});
  CHECK(f.classes == std::vector<std::string>{"read", "write"});
  CHECK(f.columns == std::vector<std::string>{"public.t.*", "*.*.*"});  // RETURNING *, then * of d
}

TEST_CASE("parse is safe from several threads at once") {
  const std::vector<std::string> sqls = {
      "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
      "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
      "ALTER TABLE users DROP COLUMN phone",
      "SELEC broken",
  };
  std::vector<pgw::sql::ParseResult> expected;
  for (const auto& s : sqls) expected.push_back(parse(s, {}));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        size_t k = static_cast<size_t>(i + t) % sqls.size();
        auto r = parse(sqls[k], {});
        bool same = r.error == expected[k].error && r.statements.size() == expected[k].statements.size();
        for (size_t s = 0; same && s < r.statements.size(); ++s) {
          same = r.statements[s].commands == expected[k].statements[s].commands &&
                 r.statements[s].tables_written == expected[k].statements[s].tables_written &&
                 r.statements[s].columns == expected[k].statements[s].columns &&
                 r.statements[s].fingerprint == expected[k].statements[s].fingerprint;
        }
        if (!same) ++mismatches[static_cast<size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(mismatches == std::vector<int>(4, 0));
}

TEST_CASE("known_commands lists SPEC's kinds, sorted and unique, each with a class") {
  const auto& kinds = pgw::sql::known_commands();
  CHECK(std::is_sorted(kinds.begin(), kinds.end()));
  CHECK(std::adjacent_find(kinds.begin(), kinds.end()) == kinds.end());
  for (const char* k : {"select", "insert", "update", "delete", "merge", "copy_from", "copy_to", "create_table",
                        "alter_table", "alter_table_drop_column", "drop_table", "drop_schema", "truncate",
                        "create_index", "grant", "revoke", "create_role", "alter_role", "do", "call", "set", "begin",
                        "commit", "explain", "prepare", "execute", "refresh_matview", "create_extension"}) {
    INFO(k);
    CHECK(std::binary_search(kinds.begin(), kinds.end(), std::string(k)));
  }
  const std::vector<std::string_view> classes = {"read", "write", "function", "role", "ddl", "misc"};
  for (const auto& k : kinds) {
    INFO(k);
    CHECK(std::find(classes.begin(), classes.end(), pgw::sql::class_of(k)) != classes.end());
  }
  CHECK(pgw::sql::class_of("drop_table") == "ddl");
  CHECK(pgw::sql::class_of("copy_to") == "read");
  CHECK(pgw::sql::class_of("grant_role") == "role");
}

TEST_CASE("unknown statement nodes fall back to snake_case of the node name") {
  CHECK(pgw::sql::snake_case("AlterTSConfiguration") == "alter_ts_configuration");
  CHECK(pgw::sql::snake_case("CreatePLang") == "create_p_lang");
  CHECK(pgw::sql::snake_case("AlterObjectDepends") == "alter_object_depends");
  CHECK(pgw::sql::object_word("OBJECT_FOREIGN_TABLE") == "foreign_table");
  CHECK(pgw::sql::object_word("OBJECT_FDW") == "foreign_data_wrapper");
  auto r = parse("ALTER FUNCTION f() DEPENDS ON EXTENSION e", {});
  CHECK(r.statements.at(0).command == "alter_object_depends");
}

TEST_CASE("search_path strings split as PostgreSQL splits identifier lists") {
  using pgw::sql::split_identifier_list;
  using Names = std::vector<std::string>;
  CHECK(split_identifier_list("a") == Names{"a"});
  CHECK(split_identifier_list(" App ,\"Sales\" , public") == Names{"app", "Sales", "public"});
  CHECK(split_identifier_list("\"a,b\", \"q\"\"t\"") == Names{"a,b", "q\"t"});
  CHECK(split_identifier_list("  ") == Names{});
  CHECK_FALSE(split_identifier_list("a,,b"));
  CHECK_FALSE(split_identifier_list("a b"));
  CHECK_FALSE(split_identifier_list("\"open"));
  CHECK_FALSE(split_identifier_list("\"\""));
}
