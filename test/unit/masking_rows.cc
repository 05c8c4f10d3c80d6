// Masking DataRow values through MaskingHost with a fake session: value masks over text and binary
// values, column masks resolved through the catalog, computed columns, the masked-values count.
#include <catch2/catch.hpp>

#include <string>

#include "test/unit/masking_testing.h"

using namespace pgw;
using namespace pgw::testing;

namespace {

// An int8 in binary format.
std::string int8_binary(uint64_t v) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
  return out;
}

}  // namespace

TEST_CASE("a value mask rewrites card numbers in text values and keeps NULLs") {
  Conversation c(kCardMasks);
  c.query("SELECT id, note, memo FROM orders");
  CHECK(c.host.sent.empty());  // value masks need no catalog
  c.reply(row_description({{"id", kOrders, 1, 23}, {"note", kOrders, 2}, {"memo", kOrders, 3}}));
  std::string out = c.reply(data_row({"1", "card 4111 1111 1111 1111 on file", std::nullopt}));
  CHECK(values_of(out) == Values{"1", "card 4111-****-****-1111 on file", std::nullopt});
  CHECK(c.relays(data_row({"2", "no card here", std::nullopt})));  // nothing to mask: relayed as it came
  CHECK(c.masking.masked == 1);
}

TEST_CASE("what one mask wrote is not scanned again by the next") {
  Conversation c(R"(
masks:
  - name: secrets
    pattern: 'secret'
    replace: 'token-42'
  - name: numbers
    pattern: '\d+'
    replace: '#'
)");
  c.query("SELECT note FROM orders");
  c.reply(row_description({{"note", kOrders, 2}}));
  CHECK(values_of(c.reply(data_row({"secret 7"}))) == Values{"token-42 #"});
  CHECK(c.masking.masked == 1);  // one value, however many masks changed it
}

TEST_CASE("binary values are masked as text, through their text form, or sent as NULL") {
  Conversation c(kCardMasks);
  c.query("SELECT note, amount, flag, tags FROM orders");
  c.reply(row_description({{"note", kOrders, 2, 25, 1},     // text
                           {"amount", kOrders, 3, 20, 1},   // int8
                           {"flag", kOrders, 4, 16, 1},     // bool: no text a pattern looks for
                           {"tags", kOrders, 5, 1009, 1}}));  // text[]: cannot be read
  std::string out = c.reply(data_row({"4111 1111 1111 1111", int8_binary(4111111111111111), std::string(1, '\1'),
                                      std::string("\0\0\0\1", 4)}));
  CHECK(values_of(out) == Values{"4111-****-****-1111", std::nullopt, std::string(1, '\1'), std::nullopt});
  CHECK(c.masking.masked == 3);
  // A number whose text no pattern matches is sent as it came.
  out = c.reply(data_row({"x", int8_binary(42), std::string(1, '\0'), std::nullopt}));
  CHECK(values_of(out) == Values{"x", int8_binary(42), std::string(1, '\0'), std::nullopt});
}

TEST_CASE("a column mask follows the column's source through the catalog") {
  Conversation c(kEmailMasks);
  c.query("SELECT id, email AS contact FROM users");
  REQUIRE(c.host.sent.size() == 1);
  CHECK(c.host.sent[0][0] == 'Q');  // the catalog query, ahead of the client's
  CHECK(c.host.pending.size() == 2);
  c.answer_catalog(kCatalog);
  c.reply(row_description({{"id", kUsers, 1, 23}, {"contact", kUsers, 2}}));
  CHECK(values_of(c.reply(data_row({"1", "ann@example.org"}))) == Values{"1", "***"});
  CHECK(values_of(c.reply(data_row({"2", std::nullopt}))) == Values{"2", std::nullopt});
  CHECK(c.masking.masked == 1);
  c.complete("SELECT 2");

  SECTION("in binary format, a text type is replaced and another type sent as NULL") {
    c.query("FETCH ALL FROM binary_cursor_over_users");
    CHECK(c.host.sent.size() == 1);  // the catalog is current
    c.reply(row_description({{"email", kUsers, 2, 1043, 1}, {"email", kUsers, 2, 17, 1}, {"id", kUsers, 1, 23, 1}}));
    CHECK(values_of(c.reply(data_row({"ann@example.org", "ann@example.org", std::string("\0\0\0\1", 4)}))) ==
          Values{"***", std::nullopt, std::string("\0\0\0\1", 4)});
  }
  SECTION("a column of a table the catalog does not know is masked") {
    c.query("SELECT id FROM users");
    c.reply(row_description({{"id", 99999, 1, 23}}));
    CHECK(values_of(c.reply(data_row({"7"}))) == Values{"***"});
    c.complete("SELECT 1");
    c.query("SELECT id FROM users");
    CHECK(c.host.sent.size() == 2);  // and the catalog is asked again
  }
}

TEST_CASE("principals no mask selects get the values as they came") {
  Conversation c(kEmailMasks, "dba:alice");
  c.query("SELECT email FROM users");
  CHECK(c.host.sent.empty());
  c.reply(row_description({{"email", kUsers, 2}}));
  CHECK(c.relays(data_row({"ann@example.org"})));
}

TEST_CASE("computed columns are masked when the statement reads a masked column") {
  Conversation c(kEmailMasks);
  c.query("SELECT count(*) FROM users");
  c.answer_catalog(kCatalog);
  c.reply(row_description({{"count", 0, 0, 20}}));
  CHECK(values_of(c.reply(data_row({"3"}))) == Values{"***"});
  c.complete("SELECT 1");

  c.query("SELECT count(*) FROM orders");
  CHECK(c.host.sent.size() == 1);
  c.reply(row_description({{"count", 0, 0, 20}}));
  CHECK(c.relays(data_row({"5"})));
  CHECK(c.masking.masked == 1);
}

TEST_CASE("a malformed DataRow ends the session") {
  Conversation c(kCardMasks);
  c.query("SELECT note FROM orders");
  c.reply(row_description({{"note", kOrders, 2}}));
  c.reply(message('D', std::string("\0\1\0\0\0\x09", 6)));  // one value of 9 bytes, none sent
  CHECK(c.host.broken == "server: malformed DataRow");
}
