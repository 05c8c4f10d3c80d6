// Value masks (RE2 patterns over result values) and column masks (globs over source columns),
// selected per session.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include "rules/rules.h"
#include "test/unit/rules_testing.h"

using namespace pgw::rules;

namespace {

Context who(const std::string& principal) {
  Context c;
  c.principal = principal;
  return c;
}

// The masked value, or the value itself when nothing was replaced.
std::string masked(const SessionMasks& masks, std::string_view value, int* count) {
  std::string out;
  if (!mask_value(masks, value, &out, count)) return std::string(value);
  return out;
}

}  // namespace

TEST_CASE("the SPEC's card-number mask") {
  SessionMasksPtr masks = masks_for(*load_file("spec_example.yaml"), who("dba:alice"));
  REQUIRE(masks);
  int count = 0;
  CHECK(masked(*masks, "4111 1111 1111 1111", &count) == "4111-****-****-1111");
  CHECK(masked(*masks, "card 4111-1111-1111-1111 on file", &count) ==
        "card 4111-****-****-1111 on file");
  CHECK(masked(*masks, "4111111111111111 and 5500 0000 0000 0004", &count) ==
        "4111-****-****-1111 and 5500-****-****-0004");
  CHECK(count == 3);
  std::string out = "untouched";
  CHECK_FALSE(mask_value(*masks, "order 12345", &out, &count));
  CHECK(out == "untouched");
  CHECK(count == 3);
}

TEST_CASE("column masks select by principal and match source columns by glob") {
  RuleSetPtr set = load_file("spec_example.yaml");
  SessionMasksPtr ci = masks_for(*set, who("acme/api@refs/heads/main"));
  REQUIRE(ci);
  const MaskedColumn* email = column_mask(*ci, "public.users.email");
  REQUIRE(email);
  CHECK(email->replace == "***");
  CHECK(email->name == "emails-for-ci");
  CHECK(column_mask(*ci, "sales.customers.email"));
  CHECK_FALSE(column_mask(*ci, "app.users.email"));
  CHECK_FALSE(column_mask(*ci, "public.users.name"));
  SessionMasksPtr dba = masks_for(*set, who("dba:alice"));
  REQUIRE(dba);
  CHECK_FALSE(column_mask(*dba, "public.users.email"));
}

TEST_CASE("principals no mask selects see nothing masked") {
  RuleSetPtr set = load(R"(
masks:
  - name: emails
    match: { principals: ["ci/*"], databases: [app] }
    pattern: '[\w.+-]+@[\w-]+(\.[\w-]+)+'
    replace: '<email>'
)");
  CHECK(masks_for(*set, who("dba:alice")) == nullptr);
  Context ci = who("ci/build");
  ci.database = "app";
  SessionMasksPtr masks = masks_for(*set, ci);
  REQUIRE(masks);
  int count = 0;
  CHECK(masked(*masks, "write to jane.doe+x@example.co.uk today", &count) ==
        "write to <email> today");
  CHECK(count == 1);
  ci.database = "other";
  CHECK(masks_for(*set, ci) == nullptr);
  CHECK(masks_for(*load("default: allow\n"), ci) == nullptr);
}

TEST_CASE("masks apply in file order and never re-scan what an earlier mask wrote") {
  RuleSetPtr set = load(R"(
masks:
  - { name: digits, pattern: '\d{3}', replace: 'NUM\0' }
  - { name: nums, pattern: 'NUM', replace: 'XXX' }
  - { name: letters, pattern: '[a-z]+', replace: '?' }
)");
  SessionMasksPtr masks = masks_for(*set, who("anyone"));
  REQUIRE(masks);
  int count = 0;
  // "NUM" is in the value itself and is masked; the "NUM" the first mask wrote is not.
  CHECK(masked(*masks, "NUM 123 abc", &count) == "XXX NUM123 ?");
  CHECK(count == 3);
  count = 0;
  CHECK(masked(*masks, "123", &count) == "NUM123");
  CHECK(count == 1);
}

TEST_CASE("a mask whose pattern does not match the whole value is not applied") {
  RuleSetPtr set = load(R"(
masks:
  - { name: secret, pattern: 'secret=(\w+)', replace: 'secret=***' }
  - { name: anchored, pattern: '^\w+$', replace: 'word' }
)");
  SessionMasksPtr masks = masks_for(*set, who("x"));
  REQUIRE(masks);
  int count = 0;
  // After the first mask "secret=***" remains; "^\w+$" did not match the original value.
  CHECK(masked(*masks, "secret=hunter2", &count) == "secret=***");
  CHECK(count == 1);
  CHECK(masked(*masks, "plain", &count) == "word");
  CHECK(count == 2);
}

TEST_CASE("patterns that can match empty text replace only what they match") {
  RuleSetPtr set = load("masks:\n  - { name: xs, pattern: 'x*', replace: '-' }\n");
  SessionMasksPtr masks = masks_for(*set, who("x"));
  REQUIRE(masks);
  int count = 0;
  CHECK(masked(*masks, "axxbé x", &count) == "a-bé -");
  CHECK(count == 1);
  CHECK(masked(*masks, "", &count).empty());
  CHECK(count == 1);
}

TEST_CASE("word boundaries see the original value, not the edge of an earlier replacement") {
  RuleSetPtr set = load(R"(
masks:
  - { name: tag, pattern: 'ID', replace: '' }
  - { name: cards, pattern: '\b\d{4}\b', replace: '####' }
  - { name: tail, pattern: '\d{2}$', replace: '..' }
)");
  SessionMasksPtr masks = masks_for(*set, who("x"));
  REQUIRE(masks);
  int count = 0;
  // Removing "ID" leaves "1234" at the edge of a piece, but in the value "D1234" has no word
  // boundary, so only "5678" is a four-digit word.
  CHECK(masked(*masks, "ID1234 5678", &count) == "1234 ####");
  CHECK(count == 2);
  // "$" matches only at the true end of the value, not where "ID" was cut out.
  CHECK(masked(*masks, "3456ID78", &count) == "3456..");
  CHECK(count == 4);
}

TEST_CASE("what the proxy asks about column masks") {
  RuleSetPtr set = load(R"(
masks:
  - { name: emails, columns: ["public.users.email", "*.customers.e_mail*"], replace: '***' }
  - { name: cards, pattern: '\d{16}', replace: 'card' }
  - { name: notes, columns: ["sales.*.note"], replace: '' }
)");
  SessionMasksPtr masks = masks_for(*set, who("x"));
  REQUIRE(masks);
  REQUIRE(value_mask_name(*masks));
  CHECK(*value_mask_name(*masks) == "cards");
  REQUIRE(any_column_mask(*masks));
  CHECK(any_column_mask(*masks)->name == "emails");
  CHECK(column_mask(*masks, "sales.orders.note")->name == "notes");
  CHECK(column_mask(*masks, "crm.customers.e_mail_2")->replace == "***");
  CHECK(table_has_column_mask(*masks, "public.users"));
  CHECK(table_has_column_mask(*masks, "crm.customers"));
  CHECK(table_has_column_mask(*masks, "sales.anything"));
  CHECK_FALSE(table_has_column_mask(*masks, "public.orders"));
  CHECK(column_name_patterns(*masks) == std::vector<std::string>{"email", "e\\_mail%", "note"});
  SessionMasksPtr values_only = masks_for(*load("masks:\n  - { name: v, pattern: 'x', replace: 'y' }\n"), who("x"));
  REQUIRE(values_only);
  CHECK_FALSE(any_column_mask(*values_only));
  CHECK(column_name_patterns(*values_only).empty());
}
