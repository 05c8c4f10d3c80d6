// What an approval notification says: the notice taken from the book's approval, the JSON body
// field by field, the Slack message, and the signature a receiver checks.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "proxy/notify/notify.h"

using nlohmann::json;
using pgw::Approval;
using pgw::ApprovalNotice;
using pgw::NotifyFormat;
namespace rules = pgw::rules;

namespace {

constexpr int64_t kRequested = 1'700'000'000'000'000;  // 2023-11-14T22:13:20Z
constexpr int64_t kExpires = kRequested + 15LL * 60 * 1'000'000;

rules::Glob glob(const std::string& text) {
  rules::Glob g;
  std::string error;
  REQUIRE(rules::compile_glob(text, rules::Folding::exact, &g, &error));
  return g;
}

// A DROP held by rule destructive-ddl for one DBA, as hold_for_approval puts it in the book.
Approval held_drop() {
  Approval a;
  a.id = 42;
  a.seq = 42;
  a.principal = "acme/shop@refs/heads/main";
  a.job_id = "4711";
  a.commit = "3f2a9c1";
  a.rule = "destructive-ddl";
  a.statement = "DELETE FROM orders WHERE id = 7";
  a.audited_statement = "DELETE FROM orders WHERE id = $1";
  a.requested_us = kRequested;
  a.expires_us = kExpires;
  a.approver_globs = {glob("dba:*"), glob("sre:oncall")};
  return a;
}

}  // namespace

TEST_CASE("a held approval's notice carries the audit's statement and the rule's approvers") {
  ApprovalNotice n = pgw::approval_notice(held_drop(), "gw-eu-1");
  CHECK(n.event == "held");
  CHECK(n.state == "pending");
  CHECK(n.statement == "DELETE FROM orders WHERE id = $1");
  CHECK(n.approvers == std::vector<std::string>{"dba:*", "sre:oncall"});
  CHECK(n.decided_by.empty());
  CHECK(n.instance == "gw-eu-1");
}

TEST_CASE("a settled approval's notice names who decided, but not for an expiry or a withdrawal") {
  Approval a = held_drop();
  a.state = "approved";
  a.approvers = {"dba:alice", "dba:bob"};
  ApprovalNotice approved = pgw::approval_notice(a, "gw");
  CHECK(approved.event == "settled");
  CHECK(approved.decided_by == std::vector<std::string>{"dba:alice", "dba:bob"});
  a.state = "rejected";
  a.approvers = {"dba:carol"};
  a.reason = "not during business hours";
  ApprovalNotice rejected = pgw::approval_notice(a, "gw");
  CHECK(rejected.decided_by == std::vector<std::string>{"dba:carol"});
  CHECK(rejected.reason == "not during business hours");
  a.state = "expired";
  a.approvers = {"dba:alice"};  // one approval of two, then the deadline
  a.reason.clear();
  CHECK(pgw::approval_notice(a, "gw").decided_by.empty());
  a.state = "withdrawn";
  a.reason = "the client disconnected while the statement waited for approval";
  ApprovalNotice withdrawn = pgw::approval_notice(a, "gw");
  CHECK(withdrawn.decided_by.empty());
  CHECK(withdrawn.reason == "the client disconnected while the statement waited for approval");
}

TEST_CASE("the JSON body of a held statement, field by field") {
  std::string body = pgw::notification_body(pgw::approval_notice(held_drop(), "gw-eu-1"), NotifyFormat::json);
  json j = json::parse(body);
  CHECK(j == json{{"event", "held"},
                  {"approval_id", 42},
                  {"state", "pending"},
                  {"principal", "acme/shop@refs/heads/main"},
                  {"job_id", "4711"},
                  {"commit", "3f2a9c1"},
                  {"rule", "destructive-ddl"},
                  {"statement", "DELETE FROM orders WHERE id = $1"},
                  {"requested_at", "2023-11-14T22:13:20.000000Z"},
                  {"expires_at", "2023-11-14T22:28:20.000000Z"},
                  {"approvers", {"dba:*", "sre:oncall"}},
                  {"approvals_required", 1},
                  {"decided_by", json::array()},
                  {"reason", ""},
                  {"instance", "gw-eu-1"},
                  {"console_database", "pgwarden"},
                  {"approve_command", "APPROVE 42"}});
  // One line in the order above, no spaces added: what is signed is exactly what is sent.
  CHECK(body.find('\n') == std::string::npos);
  CHECK(body.starts_with(R"({"event":"held","approval_id":42,"state":"pending",)"));
}

TEST_CASE("the JSON body of an approval settled by two approvers") {
  Approval a = held_drop();
  a.state = "approved";
  a.required = 2;
  a.approvers = {"dba:alice", "dba:bob"};
  json j = json::parse(pgw::notification_body(pgw::approval_notice(a, "gw"), NotifyFormat::json));
  CHECK(j["event"] == "settled");
  CHECK(j["state"] == "approved");
  CHECK(j["approvals_required"] == 2);
  CHECK(j["decided_by"] == json{"dba:alice", "dba:bob"});
}

TEST_CASE("bytes of the statement that are not UTF-8 become U+FFFD in the body") {
  ApprovalNotice n = pgw::approval_notice(held_drop(), "gw");
  n.statement = "SELECT 'caf\xe9'";
  json j = json::parse(pgw::notification_body(n, NotifyFormat::json));
  CHECK(j["statement"] == "SELECT 'caf\xef\xbf\xbd'");
}

TEST_CASE("the Slack body of a held statement: who, what, until when and the command") {
  ApprovalNotice n = pgw::approval_notice(held_drop(), "gw-eu-1");
  json j = json::parse(pgw::notification_body(n, NotifyFormat::slack));
  CHECK(j == json{{"text",
                   "pgwarden (gw-eu-1): statement held for approval 42 by rule \"destructive-ddl\"\n"
                   "principal acme/shop@refs/heads/main, job 4711, commit 3f2a9c1\n"
                   "```DELETE FROM orders WHERE id = $1```\n"
                   "Expires at 2023-11-14T22:28:20.000000Z. Approve on the database \"pgwarden\": `APPROVE 42`"}});
}

TEST_CASE("the Slack body of a rejection, with Slack's markup characters escaped") {
  Approval a = held_drop();
  a.job_id.clear();
  a.commit.clear();
  a.audited_statement = "DELETE FROM t WHERE a < 1 AND b > 2 AND c = 'x&y'";
  a.state = "rejected";
  a.approvers = {"dba:carol"};
  a.reason = "use <the> queue";
  json j = json::parse(pgw::notification_body(pgw::approval_notice(a, "gw"), NotifyFormat::slack));
  CHECK(j["text"] ==
        "pgwarden (gw): approval 42 rejected by dba:carol: use &lt;the&gt; queue (rule \"destructive-ddl\")\n"
        "principal acme/shop@refs/heads/main\n"
        "```DELETE FROM t WHERE a &lt; 1 AND b &gt; 2 AND c = 'x&amp;y'```");
}

TEST_CASE("the signature is the hex HMAC-SHA256 of the body") {
  // RFC 4231, test case 2.
  CHECK(pgw::notification_signature("what do ya want for nothing?", "Jefe") ==
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(pgw::notification_signature("", "") ==
        "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}
