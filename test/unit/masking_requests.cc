// What masking sends upstream ahead of the client's requests, through MaskingHost with a fake
// session: the catalog query only when the session's map is stale (first read, an unknown table,
// DDL in any session, a skipped query), view columns resolved to their sources, and a Describe
// ahead of an Execute the client did not describe.
#include <catch2/catch.hpp>

#include <string>

#include "test/unit/masking_testing.h"

using namespace pgw;
using namespace pgw::testing;

namespace {

// A session that has read users once and holds the catalog.
void read_users(Conversation& c) {
  c.query("SELECT id FROM users");
  c.answer_catalog(kCatalog);
  c.reply(row_description({{"id", kUsers, 1, 23}}));
  c.complete("SELECT 0");
}

}  // namespace

TEST_CASE("the catalog query goes ahead of a reading statement only when the map is stale") {
  Conversation c(kEmailMasks);
  read_users(c);
  REQUIRE(c.host.sent.size() == 1);
  CHECK(c.host.sent[0].find("pg_catalog.pg_attribute") != std::string::npos);
  c.query("SELECT email FROM users");
  c.query("SELECT 1");
  CHECK(c.host.sent.size() == 1);
  c.query("SELECT * FROM audit_log");  // a table the map does not know
  CHECK(c.host.sent.size() == 2);
}

TEST_CASE("the catalog is asked again after the server skipped its query") {
  Conversation c(kEmailMasks);
  c.query("SELECT id FROM users");
  REQUIRE(c.host.sent.size() == 1);
  masking_catalog_skipped(c.masking);
  c.host.pending.clear();
  c.query("SELECT id FROM users");
  CHECK(c.host.sent.size() == 2);
}

TEST_CASE("a view column is masked through its source column") {
  Conversation c(kEmailMasks);
  c.query("SELECT * FROM user_emails");
  c.answer_catalog(kCatalog);
  c.reply(row_description({{"email", kUserEmails, 1}}));
  CHECK(values_of(c.reply(data_row({"ann@example.org"}))) == Values{"***"});
}

TEST_CASE("DDL makes every session's catalog stale once its transaction ends") {
  Conversation c(kEmailMasks), other(kEmailMasks);
  read_users(c);
  read_users(other);
  uint64_t generation = catalog_generation();
  c.query("BEGIN; CREATE SCHEMA audit");
  c.reply(message('C', std::string("BEGIN") + '\0'));
  c.reply(message('C', std::string("CREATE SCHEMA") + '\0'));
  c.reply(message('Z', "T"));  // still in the transaction: nothing yet
  CHECK(catalog_generation() == generation);
  c.query("COMMIT");
  c.complete("COMMIT");
  CHECK(catalog_generation() == generation + 1);
  other.query("SELECT id FROM users");
  CHECK(other.host.sent.size() == 2);
}

TEST_CASE("an Execute the client did not describe gets a Describe ahead of it") {
  Conversation c(R"(
masks:
  - name: numbers
    pattern: '\d+'
    replace: '#'
)");
  c.query("SELECT 1");  // picks up the masks
  c.host.pending.clear();
  std::string execute;
  Writer(execute).begin('E').cstr("p1").i32(0).end();
  Expect e;
  e.request = 'E';
  e.portal = "p1";
  masking_before_forward(c.masking, c.host, execute, e);
  REQUIRE(c.host.sent.size() == 1);
  std::string describe;
  Writer(describe).begin('D').u8('P').cstr("p1").end();
  CHECK(c.host.sent[0] == describe);
  REQUIRE(c.host.pending.size() == 1);
  Expect& asked = c.host.pending.front();
  CHECK((asked.internal && asked.request == 'D' && asked.portal == "p1"));
  // Its RowDescription plans the rows of the Execute.
  CHECK_FALSE(masking_on_message(c.masking, c.host, &asked, view(row_description({{"n", 0, 0, 23}}))));
  std::string row = data_row({"42"});
  REQUIRE(masking_on_message(c.masking, c.host, &e, view(row)));
  CHECK(values_of(c.masking.out) == Values{"#"});
}
