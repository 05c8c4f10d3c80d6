// The audit record of a judged statement: the session's fields as the session named them, the
// statement's facts, its text as audit.statement_text says, and a held statement's deadline.
#include <catch2/catch.hpp>

#include "proxy/judge/record.h"
#include "test/unit/judge_testing.h"

using pgw::AuditedSession;
using pgw::Judged;
using pgw::Judging;
using pgw::make_record;

namespace {

constexpr int64_t kNow = 1'700'000'000'000'000;

AuditedSession ci_session() {
  auto who = std::make_shared<const pgw::store::SessionRecord>(
      pgw::store::SessionRecord{.principal = "acme/api@refs/heads/main",
                                .attribution = "verified",
                                .job_id = "1234-1",
                                .commit = "0123abcd",
                                .session_id = "s-42",
                                .client_addr = "10.1.2.3",
                                .database = "app",
                                .upstream_role = "deployer",
                                .application_name = "migrate"});
  return AuditedSession{.record = who, .approval_timeout = std::chrono::minutes(10)};
}

// The one statement of `text`, judged with the normalized text computed.
Judged judged_one(Judging session, std::string_view text) {
  session.normalize = true;
  std::vector<Judged> judged = session.judge(text);
  REQUIRE(judged.size() == 1);
  return judged[0];
}

// Rules that hold DROP TABLE for a DBA's approval, with the rule's own timeout or without one.
Judging drops_held(const std::string& timeout) {
  return Judging(pgw::rules::load("default: allow\n"
                                  "rules:\n"
                                  "  - name: drops-need-a-dba\n"
                                  "    match: {commands: [drop_table]}\n"
                                  "    action: hold\n"
                                  "    approvers: [\"dba:*\"]\n" +
                                  timeout));
}

}  // namespace

TEST_CASE("a record names the session, the statement's facts and the decision") {
  Judged j = judged_one(pgw::billing_protected(), "UPDATE accounts SET balance = $1 WHERE id = $2");
  AuditedSession session = ci_session();
  pgw::store::AuditRecord r = make_record(session, j, "extended", "[\"0\",\"7\"]", kNow);
  CHECK(r.ts_us == kNow);
  CHECK(r.session == session.record);  // the session's one record, not a copy
  CHECK(r.session->principal == "acme/api@refs/heads/main");
  CHECK(r.protocol == "extended");
  CHECK(r.command == "update");
  CHECK(r.classes == "write");
  CHECK(r.tables_read.empty());
  CHECK(r.tables_written == "public.accounts");
  CHECK(r.fingerprint == j.facts.fingerprint);
  CHECK_FALSE(r.fingerprint.empty());
  CHECK(r.statement == "UPDATE accounts SET balance = $1 WHERE id = $2");
  CHECK(r.parameters == "[\"0\",\"7\"]");
  CHECK(r.decision == "allow");
  CHECK(r.rule.empty());
  CHECK(r.approver.empty());
  CHECK(r.expires_us == 0);
}

TEST_CASE("a denied statement's record names the rule") {
  Judged j = judged_one(pgw::billing_protected(), "DELETE FROM billing.accounts");
  pgw::store::AuditRecord r = make_record(ci_session(), j, "simple", "", kNow);
  CHECK(r.decision == "deny");
  CHECK(r.rule == "keep-billing");
}

TEST_CASE("statement_text: normalized records the normalized text and drops the parameters") {
  Judged j = judged_one(pgw::billing_protected(), "UPDATE accounts SET balance = 0 WHERE id = 7");
  AuditedSession session = ci_session();
  session.normalized_text = true;
  pgw::store::AuditRecord r = make_record(session, j, "extended", "[\"secret\"]", kNow);
  CHECK(r.statement == "UPDATE accounts SET balance = $1 WHERE id = $2");
  CHECK(r.parameters.empty());
  session.normalized_text = false;
  r = make_record(session, j, "extended", "[\"secret\"]", kNow);
  CHECK(r.statement == "UPDATE accounts SET balance = 0 WHERE id = 7");
  CHECK(r.parameters == "[\"secret\"]");
}

TEST_CASE("a held statement expires after its rule's timeout, else the configured default") {
  Judged with_timeout = judged_one(drops_held("    timeout: 15m\n"), "DROP TABLE t");
  pgw::store::AuditRecord r = make_record(ci_session(), with_timeout, "simple", "", kNow);
  CHECK(r.decision == "hold");
  CHECK(r.rule == "drops-need-a-dba");
  CHECK(r.expires_us == kNow + 15 * 60 * 1'000'000LL);
  Judged without = judged_one(drops_held(""), "DROP TABLE t");
  CHECK(make_record(ci_session(), without, "simple", "", kNow).expires_us == kNow + 10 * 60 * 1'000'000LL);
}

TEST_CASE("an approved statement's record says approved and by whom") {
  Judged j = judged_one(drops_held(""), "DROP TABLE t");
  j.approved_by = "dba:alice;dba:bob";
  pgw::store::AuditRecord r = make_record(ci_session(), j, "simple", "", kNow);
  CHECK(r.decision == "approved");
  CHECK(r.approver == "dba:alice;dba:bob");
}
