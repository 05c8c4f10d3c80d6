// Judging a request's text as a session does: the search_path and SQL PREPAREs its own earlier
// statements set, several statements in one string, and text that does not parse.
#include <catch2/catch.hpp>

#include "proxy/judge/parse_cache.h"
#include "test/unit/judge_testing.h"

using pgw::Judged;
using pgw::Judging;
using pgw::refused;

namespace {

using Names = std::vector<std::string>;

bool denied_by_keep_billing(const Judged& j) { return refused(j.decision) && j.decision.rule == "keep-billing"; }

}  // namespace

TEST_CASE("an unqualified DELETE is judged in the schema SET search_path chose") {
  Judging session = pgw::billing_protected();
  auto before = session.run("DELETE FROM accounts WHERE id = 1");
  REQUIRE(before.size() == 1);
  CHECK(before[0].facts.tables_written == Names{"public.accounts"});
  CHECK_FALSE(refused(before[0].decision));
  session.run("SET search_path = billing, public");
  CHECK(session.scope.search_path == Names{"billing", "public"});
  auto after = session.run("DELETE FROM accounts WHERE id = 1");
  REQUIRE(after.size() == 1);
  CHECK(after[0].facts.tables_written == Names{"billing.accounts"});
  CHECK(denied_by_keep_billing(after[0]));
}

TEST_CASE("SET search_path in the middle of a string changes the statements after it") {
  Judging session = pgw::billing_protected();
  auto judged = session.judge("DELETE FROM accounts WHERE id = 1; SET search_path = billing; DELETE FROM accounts");
  REQUIRE(judged.size() == 3);
  CHECK(judged[0].text == "DELETE FROM accounts WHERE id = 1");
  CHECK_FALSE(refused(judged[0].decision));
  CHECK(judged[1].text == "SET search_path = billing");
  CHECK(judged[2].text == "DELETE FROM accounts");
  CHECK(judged[2].facts.tables_written == Names{"billing.accounts"});
  CHECK(denied_by_keep_billing(judged[2]));
}

TEST_CASE("RESET search_path goes back to the server default, public") {
  Judging session = pgw::billing_protected();
  session.run("SET search_path = billing");
  session.run("RESET search_path");
  CHECK(session.scope.search_path.empty());
  auto judged = session.run("DELETE FROM accounts WHERE id = 1");
  REQUIRE(judged.size() == 1);
  CHECK(judged[0].facts.tables_written == Names{"public.accounts"});
  CHECK_FALSE(refused(judged[0].decision));
}

TEST_CASE("EXECUTE is judged as what was PREPAREd, until DEALLOCATE forgets it") {
  Judging session(pgw::rules::load("default: allow\n"));
  session.run("PREPARE wipe AS DELETE FROM billing.accounts");
  session.run("PREPARE look AS SELECT * FROM billing.accounts");
  REQUIRE(session.scope.prepared.contains("wipe"));
  session.rules = pgw::billing_protected().rules;  // the rules were reloaded since
  auto execute = session.run("EXECUTE wipe");
  REQUIRE(execute.size() == 1);
  CHECK(execute[0].facts.command == "execute");
  CHECK(denied_by_keep_billing(execute[0]));
  CHECK_FALSE(refused(session.run("EXECUTE look")[0].decision));
  session.run("DEALLOCATE wipe");
  CHECK_FALSE(session.scope.prepared.contains("wipe"));
  CHECK_FALSE(refused(session.run("EXECUTE wipe")[0].decision));
  session.run("DEALLOCATE ALL");
  CHECK(session.scope.prepared.empty());
}

TEST_CASE("one denied statement among several is the one refused, with the rule's message") {
  Judging session = pgw::billing_protected();
  auto judged = session.judge("SELECT 1; DELETE FROM billing.accounts WHERE id = 7; SELECT 2");
  REQUIRE(judged.size() == 3);
  CHECK_FALSE(refused(judged[0].decision));
  CHECK(denied_by_keep_billing(judged[1]));
  CHECK_FALSE(refused(judged[2].decision));
  pgw::Refusal why = pgw::refusal_of(judged[1]);
  CHECK(why.sqlstate == "42501");
  CHECK(why.message == "pgwarden: denied by rule \"keep-billing\": billing rows are kept");
}

TEST_CASE("a statement no rule matches under default: deny is refused by default") {
  Judging session(pgw::rules::load("default: deny\n"));
  auto judged = session.judge("SELECT 1");
  REQUIRE(judged.size() == 1);
  CHECK(refused(judged[0].decision));
  CHECK(pgw::refusal_of(judged[0]).message.starts_with("pgwarden: denied by default: "));
}

TEST_CASE("text that does not parse is one statement, decided by on_parse_error") {
  Judging deny(pgw::rules::load("default: allow\non_parse_error: deny\n"));
  auto judged = deny.judge("SELEC 1; SELECT 2");
  REQUIRE(judged.size() == 1);
  CHECK(judged[0].parse_failed);
  CHECK(judged[0].text == "SELEC 1; SELECT 2");
  CHECK(judged[0].facts.command == "unknown");
  CHECK(refused(judged[0].decision));
  pgw::Refusal why = pgw::refusal_of(judged[0]);
  CHECK(why.sqlstate == "42601");
  CHECK(why.message.starts_with("pgwarden: statement could not be parsed (on_parse_error: deny): "));
  Judging allow(pgw::rules::load("default: deny\non_parse_error: allow\n"));
  judged = allow.judge("SELEC 1");
  REQUIRE(judged.size() == 1);
  CHECK(judged[0].parse_failed);
  CHECK_FALSE(refused(judged[0].decision));
}

TEST_CASE("a string of only comments holds no statement") {
  CHECK(pgw::billing_protected().judge("-- nothing\n;").empty());
}

TEST_CASE("judging through a parse cache judges as parsing afresh") {
  Judging session = pgw::billing_protected();
  session.run("SET search_path = billing");
  pgw::ParseCache cache;
  pgw::JudgeContext ctx{.rules = session.rules, .who = session.who, .scope = session.scope, .cache = &cache};
  for (int thrice = 0; thrice < 3; ++thrice) {
    auto judged = pgw::judge_text(ctx, "DELETE FROM accounts");
    REQUIRE(judged.size() == 1);
    CHECK(denied_by_keep_billing(judged[0]));
  }
  CHECK(cache.shapes.size() == 1);
}
