// Evaluation: every match field, first match wins, the default, monitor mode, parse errors.
// Statement facts are built by hand so these tests depend on the rules alone.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include "rules/rules.h"
#include "test/unit/rules_testing.h"

using namespace pgw::rules;
using pgw::sql::StatementFacts;

namespace {

// A statement of one kind and class, its other facts empty.
StatementFacts of_kind(const std::string& kind, const std::string& statement_class) {
  StatementFacts f;
  f.command = kind;
  f.commands = {kind};
  f.classes = {statement_class};
  return f;
}

StatementFacts select_from(const std::string& table) {
  StatementFacts f = of_kind("select", "read");
  f.tables_read = {table};
  return f;
}

StatementFacts delete_from(const std::string& table, bool where_absent) {
  StatementFacts f = of_kind("delete", "write");
  f.tables_written = {table};
  f.where_absent = where_absent;
  return f;
}

StatementFacts lock_of(const std::string& table, const std::string& mode) {
  StatementFacts f = of_kind("lock", "misc");
  f.tables_named = {table};
  f.lock_mode = mode;
  return f;
}

Context who(const std::string& principal) {
  Context c;
  c.principal = principal;
  c.database = "app";
  c.client_addr = "10.1.2.3";
  return c;
}

// The rule that decides `facts` under a one-rule set matching `match` (else "").
std::string matched(const std::string& match, const StatementFacts& facts,
                    const Context& ctx = who("acme/api"), std::string_view sql = "") {
  RuleSetPtr set =
      load("default: allow\nrules:\n  - name: r\n    action: deny\n    match: " + match + "\n");
  return evaluate(*set, ctx, facts, sql).rule;
}

}  // namespace

TEST_CASE("session fields: principals, jobs, databases, client_addrs") {
  StatementFacts f = select_from("public.users");
  CHECK(matched("{principals: [\"acme/*\"]}", f) == "r");
  CHECK(matched("{principals: [\"other/*\"]}", f).empty());
  Context job = who("acme/api");
  job.job_id = "1234-1";
  CHECK(matched("{jobs: [\"1234-*\"]}", f, job) == "r");
  CHECK(matched("{jobs: [\"99-*\"]}", f, job).empty());
  CHECK(matched("{databases: [app, other]}", f) == "r");
  CHECK(matched("{databases: [App]}", f).empty());
  CHECK(matched("{client_addrs: [10.0.0.0/8]}", f) == "r");
  CHECK(matched("{client_addrs: [192.168.0.0/16, \"::1\"]}", f).empty());
  Context unix_socket = who("acme/api");
  unix_socket.client_addr = "";
  CHECK(matched("{client_addrs: [0.0.0.0/0]}", f, unix_socket).empty());
  Context v6 = who("acme/api");
  v6.client_addr = "2001:db8::7";
  CHECK(matched("{client_addrs: [10.0.0.0/8, \"2001:db8::/32\"]}", f, v6) == "r");
}

TEST_CASE("statement fields: commands, classes, where") {
  CHECK(matched("{commands: [delete, update]}", delete_from("public.t", false)) == "r");
  CHECK(matched("{commands: [delete, update]}", select_from("public.t")).empty());
  CHECK(matched("{commands: [\"drop_*\"]}", delete_from("public.t", false)).empty());
  StatementFacts cte = select_from("public.t");
  cte.commands.push_back("delete");
  CHECK(matched("{commands: [delete]}", cte) == "r");
  CHECK(matched("{classes: [write, ddl]}", delete_from("public.t", true)) == "r");
  CHECK(matched("{classes: [ddl]}", delete_from("public.t", true)).empty());
  CHECK(matched("{where: absent}", delete_from("public.t", true)) == "r");
  CHECK(matched("{where: absent}", delete_from("public.t", false)).empty());
}

TEST_CASE("statement fields: tables, reads, writes") {
  StatementFacts copy = select_from("public.users");
  copy.tables_written = {"audit.copies"};
  CHECK(matched("{tables: [users]}", copy) == "r");
  CHECK(matched("{tables: [\"audit.*\"]}", copy) == "r");
  CHECK(matched("{tables: [orders]}", copy).empty());
  CHECK(matched("{reads: [public.users]}", copy) == "r");
  CHECK(matched("{reads: [\"audit.*\"]}", copy).empty());
  CHECK(matched("{writes: [\"audit.*\"]}", copy) == "r");
  CHECK(matched("{writes: [users]}", copy).empty());
  CHECK(matched("{tables: [app.users]}", copy).empty());
}

TEST_CASE("statement fields: tables named (LOCK, VACUUM, ...) meet tables, not reads or writes") {
  StatementFacts lock = lock_of("public.ledger", "access_share");
  CHECK(matched("{tables: [public.ledger]}", lock) == "r");
  CHECK(matched("{tables: [ledger]}", lock) == "r");
  CHECK(matched("{tables: [\"audit.*\"]}", lock).empty());
  CHECK(matched("{writes: [public.ledger]}", lock).empty());
  CHECK(matched("{reads: [public.ledger]}", lock).empty());
}

TEST_CASE("statement fields: lock_modes match LOCK statements of those modes only") {
  const std::string rule =
      "{commands: [lock], lock_modes: [access_exclusive, exclusive], tables: [public.ledger]}";
  CHECK(matched(rule, lock_of("public.ledger", "access_exclusive")) == "r");
  CHECK(matched(rule, lock_of("public.ledger", "exclusive")) == "r");
  CHECK(matched(rule, lock_of("public.ledger", "access_share")).empty());
  CHECK(matched(rule, lock_of("public.ledger", "share_row_exclusive")).empty());
  CHECK(matched(rule, lock_of("public.accounts", "access_exclusive")).empty());
  CHECK(matched("{lock_modes: [access_share]}", lock_of("public.ledger", "access_share")) == "r");
  CHECK(matched("{lock_modes: [access_share]}", select_from("public.ledger")).empty());
}

TEST_CASE("statement fields: columns, functions, sql") {
  StatementFacts f = select_from("public.users");
  f.columns = {"public.users.id", "*.*.ssn"};
  f.functions = {"dblink_exec", "now"};
  CHECK(matched("{columns: [public.users.id]}", f) == "r");
  CHECK(matched("{columns: [\"*.email\"]}", f).empty());
  CHECK(matched("{columns: [hr.people.ssn]}", f) == "r");
  CHECK(matched("{functions: [pg_read_file, \"dblink*\"]}", f) == "r");
  CHECK(matched("{functions: [pg_read_file]}", f).empty());
  CHECK(matched("{sql: \"(?i)for update\"}", f, who("a"), "SELECT * FROM users FOR UPDATE") == "r");
  CHECK(matched("{sql: \"(?i)for update\"}", f, who("a"), "SELECT * FROM users").empty());
}

TEST_CASE("every given field must match") {
  StatementFacts f = delete_from("public.users", true);
  CHECK(matched("{principals: [\"acme/*\"], commands: [delete], where: absent}", f) == "r");
  CHECK(matched("{principals: [\"other\"], commands: [delete], where: absent}", f).empty());
  CHECK(matched("{principals: [\"acme/*\"], commands: [update], where: absent}", f).empty());
}

TEST_CASE("quoted names in rules keep their case, unquoted ones are folded") {
  StatementFacts mixed = select_from("public.MyTable");
  CHECK(matched("{tables: ['public.\"MyTable\"']}", mixed) == "r");
  CHECK(matched("{tables: ['\"MyTable\"']}", mixed) == "r");
  CHECK(matched("{tables: [public.MyTable]}", mixed).empty());
  StatementFacts lower = select_from("public.mytable");
  CHECK(matched("{tables: [public.MyTable]}", lower) == "r");
  CHECK(matched("{tables: ['public.\"MyTable\"']}", lower).empty());
  StatementFacts f = select_from("public.t");
  f.functions = {"MyFunc"};
  CHECK(matched("{functions: ['\"MyFunc\"']}", f) == "r");
  CHECK(matched("{functions: [MyFunc]}", f).empty());
}

TEST_CASE("first match wins, top to bottom, and no match takes the default") {
  RuleSetPtr set = load(R"(
default: deny
rules:
  - name: no-unbounded-delete
    match: { commands: [delete], where: absent }
    action: deny
    message: "DELETE without WHERE"
  - name: app-writes
    match: { principals: ["acme/*"] }
    action: allow
  - name: never-reached
    match: { commands: [delete] }
    action: deny
)");
  Decision d = evaluate(*set, who("acme/api"), delete_from("public.t", true), "DELETE FROM t");
  CHECK(d.action == Action::deny);
  CHECK(d.enforced);
  CHECK(d.rule == "no-unbounded-delete");
  CHECK(d.message == "DELETE without WHERE");
  CHECK(d.audit_name() == "deny");
  d = evaluate(*set, who("acme/api"), delete_from("public.t", false), "");
  CHECK(d.action == Action::allow);
  CHECK(d.rule == "app-writes");
  CHECK(d.audit_name() == "allow");
  d = evaluate(*set, who("stranger"), select_from("public.t"), "");
  CHECK(d.action == Action::deny);
  CHECK(d.rule.empty());
  CHECK(d.message == "no rule allows this statement (default: deny)");
  set = load("default: allow\n");
  d = evaluate(*set, who("stranger"), select_from("public.t"), "");
  CHECK(d.action == Action::allow);
  CHECK(d.rule.empty());
}

TEST_CASE("hold carries approvers, the number of approvals and the timeout, and log allows") {
  RuleSetPtr set = load(R"(
rules:
  - name: drops
    match: { commands: [delete] }
    action: hold
    approvers: ["dba:*", "lead:*"]
    approvals_required: 2
    timeout: 1h30m
  - name: flagged
    action: log
)");
  Decision d = evaluate(*set, who("a"), delete_from("public.t", false), "");
  CHECK(d.action == Action::hold);
  CHECK(d.audit_name() == "hold");
  REQUIRE(d.approvers.size() == 2);
  CHECK(d.approvers[0].text == "dba:*");
  CHECK(d.approvers[1].text == "lead:*");
  CHECK(d.approvals_required == 2);
  CHECK(d.timeout == std::chrono::milliseconds(5'400'000));
  d = evaluate(*set, who("a"), select_from("public.t"), "");
  CHECK(d.action == Action::log);
  CHECK(d.enforced);
  CHECK(d.audit_name() == "log");
  CHECK(d.rule == "flagged");
  CHECK(d.approvers.empty());
  CHECK_FALSE(d.timeout);
}

TEST_CASE("monitor mode records deny and hold without enforcing them") {
  RuleSetPtr set = load(R"(
mode: monitor
default: deny
rules:
  - { name: drops, match: { commands: [delete] }, action: hold, approvers: ["dba:*"] }
  - { name: reads, match: { commands: [select], principals: [reader] }, action: allow }
  - { name: others, match: { commands: [select], principals: [bad] }, action: deny }
)");
  Decision d = evaluate(*set, who("a"), delete_from("public.t", false), "");
  CHECK(d.action == Action::hold);
  CHECK_FALSE(d.enforced);
  CHECK(d.audit_name() == "would_hold");
  d = evaluate(*set, who("bad"), select_from("public.t"), "");
  CHECK_FALSE(d.enforced);
  CHECK(d.audit_name() == "would_deny");
  d = evaluate(*set, who("reader"), select_from("public.t"), "");
  CHECK(d.enforced);
  CHECK(d.audit_name() == "allow");
  d = evaluate(*set, who("nobody"), select_from("public.t"), "");
  CHECK(d.rule.empty());
  CHECK(d.audit_name() == "would_deny");
  CHECK(summarize(*set)[0].action == "hold (monitor) (1 of [dba:*])");
  CHECK(summarize(*set)[1].action == "allow");
}

TEST_CASE("statements that cannot be parsed follow on_parse_error") {
  Decision d = evaluate_parse_error(*load("default: allow\n"), who("a"), "syntax error at end");
  CHECK(d.action == Action::deny);
  CHECK(d.enforced);
  CHECK(d.rule.empty());
  CHECK(d.message == "statement could not be parsed (on_parse_error: deny): syntax error at end");
  d = evaluate_parse_error(*load("on_parse_error: allow\n"), who("a"), "x");
  CHECK(d.action == Action::allow);
  d = evaluate_parse_error(*load("mode: monitor\non_parse_error: deny\n"), who("a"), "x");
  CHECK(d.audit_name() == "would_deny");
}
