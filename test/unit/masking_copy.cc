// Masking the rows of `COPY ... TO STDOUT` through MaskingHost with a fake session: text and CSV
// fields, which fields a column mask covers, and binary COPY refused.
#include <catch2/catch.hpp>

#include <string>

#include "test/unit/masking_testing.h"

using namespace pgw;
using namespace pgw::testing;

namespace {

// The client gets this CopyData for a row the server sent as `row`.
std::string copied(Conversation& c, const std::string& row) { return c.reply(message('d', row)); }

// The client runs `sql`, a COPY that reads users, and the server starts sending its `fields` text
// fields (after answering the catalog query masking sent ahead of it).
void start_copy(Conversation& c, const char* sql, int fields) {
  c.query(sql);
  REQUIRE(c.host.sent.size() == 1);
  c.answer_catalog(kCatalog);
  c.reply(copy_out_response(0, fields));
}

}  // namespace

TEST_CASE("COPY table TO in text format rewrites only the masked fields") {
  Conversation c(kEmailMasks);
  start_copy(c, "COPY users TO STDOUT", 3);
  CHECK(copied(c, "1\tann@example.org\tAnn\n") == message('d', "1\t***\tAnn\n"));
  CHECK(c.relays(message('d', "2\t\\N\tBob\n")));
  CHECK(c.masking.masked == 1);
}

TEST_CASE("COPY table (columns) TO in CSV format masks the listed masked column") {
  Conversation c(kEmailMasks);
  start_copy(c, "COPY users (email, id) TO STDOUT (FORMAT csv, HEADER)", 2);
  CHECK(c.relays(message('d', "email,id\n")));
  CHECK(copied(c, "\"ann,1@example.org\",1\n") == message('d', "\"***\",1\n"));
  CHECK(c.masking.masked == 1);
}

TEST_CASE("COPY (query) TO over a masked table masks every field") {
  Conversation c(kEmailMasks);
  start_copy(c, "COPY (SELECT id, name FROM users) TO STDOUT", 2);
  CHECK(copied(c, "1\tAnn\n") == message('d', "***\t***\n"));
  CHECK(c.masking.masked == 2);
}

TEST_CASE("value masks rewrite every COPY field they match") {
  Conversation c(kCardMasks);
  c.query("COPY orders TO STDOUT (FORMAT csv)");
  CHECK(c.host.sent.empty());
  c.reply(copy_out_response(0, 2));
  CHECK(copied(c, "1,4111 1111 1111 1111\n") == message('d', "1,\"4111-****-****-1111\"\n"));
  CHECK(c.relays(message('d', "2,none\n")));
  CHECK(c.masking.masked == 1);
}

TEST_CASE("a binary COPY TO STDOUT of masked values is refused") {
  SECTION("before it runs, as a decision of the mask") {
    Conversation c(kEmailMasks);
    std::vector<Judged> judged = c.query("COPY users TO STDOUT (FORMAT binary)");
    REQUIRE(judged.size() == 1);
    CHECK(judged[0].decision.action == rules::Action::deny);
    CHECK(judged[0].decision.enforced);
    CHECK(judged[0].decision.rule == "emails-for-ci");
    CHECK(Conversation(kCardMasks).query("COPY orders TO STDOUT (FORMAT binary)")[0].decision.rule == "card-numbers");
    CHECK(c.query("COPY users TO STDOUT")[0].decision.action == rules::Action::allow);
  }
  SECTION("and ends the session if the server starts one anyway") {
    Conversation c(kCardMasks);
    c.query("COPY orders TO STDOUT");
    c.reply(copy_out_response(1, 2));
    CHECK(c.host.failed == "42501");
  }
}
