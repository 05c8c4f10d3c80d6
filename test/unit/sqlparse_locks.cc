// Tables a statement names without reading or writing their rows (LOCK, VACUUM, ANALYZE,
// CLUSTER, REINDEX, COMMENT ON, SECURITY LABEL), LOCK's mode, and the statements next to them
// that do read or write (SELECT ... FOR UPDATE, REFRESH MATERIALIZED VIEW, TRUNCATE).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "sqlparse/facts.h"

using pgw::sql::parse;
using pgw::sql::StatementFacts;
using Names = std::vector<std::string>;

namespace {

// The facts of `sql`, which must be one statement.
StatementFacts facts_of(const std::string& sql, const Names& search_path = {}) {
  pgw::sql::ParseResult r = parse(sql, search_path);
  INFO(sql << ": " << r.error);
  REQUIRE(r.ok());
  REQUIRE(r.statements.size() == 1);
  return r.statements[0];
}

// Checks the three table lists and the lock mode of `f`, in first-seen order.
void check_tables(const StatementFacts& f, const Names& read, const Names& written, const Names& named,
                  const std::string& lock_mode = "") {
  CHECK(f.tables_read == read);
  CHECK(f.tables_written == written);
  CHECK(f.tables_named == named);
  CHECK(f.lock_mode == lock_mode);
}

}  // namespace

TEST_CASE("LOCK names its tables and reports its mode, writing nothing") {
  StatementFacts f = facts_of("LOCK TABLE ledger IN ACCESS SHARE MODE");
  CHECK(f.command == "lock");
  CHECK(f.classes == Names{"misc"});
  check_tables(f, {}, {}, {"public.ledger"}, "access_share");
  check_tables(facts_of("LOCK ledger"), {}, {}, {"public.ledger"}, "access_exclusive");
  check_tables(facts_of("LOCK TABLE ONLY accounts, audit.ledger, accounts IN ROW EXCLUSIVE MODE NOWAIT"), {}, {},
               {"public.accounts", "audit.ledger"}, "row_exclusive");
  CHECK(facts_of("LOCK ledger").columns.empty());
}

TEST_CASE("every lock mode has its snake_case name, weakest first") {
  const Names spelled = {"ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE",       "SHARE UPDATE EXCLUSIVE",
                         "SHARE",        "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"};
  const Names& modes = pgw::sql::known_lock_modes();
  REQUIRE(modes.size() == spelled.size());
  for (size_t i = 0; i < spelled.size(); ++i) {
    INFO(spelled[i]);
    CHECK(facts_of("LOCK t IN " + spelled[i] + " MODE").lock_mode == modes[i]);
  }
  CHECK(modes.front() == "access_share");
  CHECK(modes[3] == "share_update_exclusive");
  CHECK(modes.back() == "access_exclusive");
}

TEST_CASE("unqualified names of LOCK resolve through the search path") {
  check_tables(facts_of("LOCK ledger IN SHARE MODE", {"$user", "books", "public"}), {}, {}, {"books.ledger"}, "share");
  pgw::sql::ParseResult r = parse("SET search_path = audit; LOCK ledger, public.t IN EXCLUSIVE MODE", {});
  REQUIRE(r.statements.size() == 2);
  check_tables(r.statements[1], {}, {}, {"audit.ledger", "public.t"}, "exclusive");
  CHECK(r.statements[0].lock_mode.empty());
}

TEST_CASE("LOCK inside a transaction block reports the same as alone") {
  pgw::sql::ParseResult r = parse("BEGIN; LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE; COMMIT", {});
  REQUIRE(r.statements.size() == 3);
  CHECK(r.statements[0].command == "begin");
  CHECK(r.statements[1].command == "lock");
  check_tables(r.statements[1], {}, {}, {"public.ledger"}, "access_exclusive");
  check_tables(r.statements[2], {}, {}, {});
}

TEST_CASE("VACUUM and ANALYZE name their tables and ANALYZE's columns") {
  StatementFacts f = facts_of("VACUUM (FULL, ANALYZE) ledger, audit.entries");
  CHECK(f.command == "vacuum");
  check_tables(f, {}, {}, {"public.ledger", "audit.entries"});
  f = facts_of("ANALYZE ledger (amount, booked_at)", {"books"});
  CHECK(f.command == "analyze");
  check_tables(f, {}, {}, {"books.ledger"});
  CHECK(f.columns == Names{"books.ledger.amount", "books.ledger.booked_at"});
  check_tables(facts_of("VACUUM"), {}, {}, {});
}

TEST_CASE("CLUSTER and REINDEX name the relation they rebuild") {
  StatementFacts f = facts_of("CLUSTER ledger USING ledger_pkey");
  CHECK(f.command == "cluster");
  check_tables(f, {}, {}, {"public.ledger"});
  check_tables(facts_of("CLUSTER"), {}, {}, {});
  f = facts_of("REINDEX TABLE CONCURRENTLY audit.ledger");
  CHECK(f.command == "reindex");
  check_tables(f, {}, {}, {"audit.ledger"});
  check_tables(facts_of("REINDEX INDEX ledger_pkey"), {}, {}, {"public.ledger_pkey"});
  check_tables(facts_of("REINDEX DATABASE app"), {}, {}, {});
}

TEST_CASE("COMMENT ON and SECURITY LABEL name the relation they describe") {
  StatementFacts f = facts_of("COMMENT ON TABLE ledger IS 'append only'");
  CHECK(f.command == "comment");
  check_tables(f, {}, {}, {"public.ledger"});
  f = facts_of("COMMENT ON COLUMN audit.ledger.amount IS 'in cents'");
  check_tables(f, {}, {}, {"audit.ledger"});
  CHECK(f.columns == Names{"audit.ledger.amount"});
  f = facts_of("COMMENT ON COLUMN ledger.amount IS NULL", {"books"});
  check_tables(f, {}, {}, {"books.ledger"});
  CHECK(f.columns == Names{"books.ledger.amount"});
  check_tables(facts_of("COMMENT ON VIEW ledger_totals IS 'x'"), {}, {}, {"public.ledger_totals"});
  check_tables(facts_of("COMMENT ON CONSTRAINT ledger_amount_check ON ledger IS 'x'"), {}, {}, {"public.ledger"});
  check_tables(facts_of("COMMENT ON SCHEMA audit IS 'x'"), {}, {}, {});
  f = facts_of("SECURITY LABEL FOR selinux ON TABLE audit.ledger IS 'system_u:object_r:sepgsql_table_t:s0'");
  CHECK(f.command == "security_label");
  check_tables(f, {}, {}, {"audit.ledger"});
  f = facts_of("SECURITY LABEL ON COLUMN ledger.amount IS 'secret'");
  check_tables(f, {}, {}, {"public.ledger"});
  CHECK(f.columns == Names{"public.ledger.amount"});
}

TEST_CASE("REFRESH MATERIALIZED VIEW and TRUNCATE write; SELECT ... FOR UPDATE reads") {
  StatementFacts f = facts_of("REFRESH MATERIALIZED VIEW CONCURRENTLY ledger_totals");
  CHECK(f.command == "refresh_matview");
  check_tables(f, {}, {"public.ledger_totals"}, {});
  check_tables(facts_of("TRUNCATE ledger"), {}, {"public.ledger"}, {});
  f = facts_of("SELECT * FROM ledger l JOIN audit.entries e ON e.id = l.id FOR UPDATE OF l FOR SHARE OF e");
  CHECK(f.classes == Names{"read"});
  check_tables(f, {"public.ledger", "audit.entries"}, {}, {});
  check_tables(facts_of("SELECT 1 FROM ledger FOR KEY SHARE SKIP LOCKED"), {"public.ledger"}, {}, {});
}
