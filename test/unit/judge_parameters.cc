// The parameter values of Bind and FunctionCall messages as the audit records them: a JSON array
// of strings, masked by the session's value masks, binary values as \x hex, NULL as null.
#include <catch2/catch.hpp>

#include "proxy/judge/parameters.h"
#include "proxy/wire/wire.h"
#include "test/unit/rules_testing.h"

namespace {

// A parameter of a Bind or FunctionCall: its format code and value (nullopt: NULL).
struct Param {
  int16_t format;
  std::optional<std::string> value;
};

// Format codes, one per parameter, then the parameters.
void write_params(pgw::Writer& w, const std::vector<Param>& params) {
  w.i16(static_cast<int16_t>(params.size()));
  for (const Param& p : params) w.i16(p.format);
  w.i16(static_cast<int16_t>(params.size()));
  for (const Param& p : params) {
    w.i32(p.value ? static_cast<int32_t>(p.value->size()) : -1);
    if (p.value) w.bytes(*p.value);
  }
}

// The body (no type byte or length) of a Bind of `statement` into `portal`.
std::string bind_body(const std::string& portal, const std::string& statement, const std::vector<Param>& params) {
  std::string out;
  pgw::Writer w(out);
  w.begin('B').cstr(portal).cstr(statement);
  write_params(w, params);
  w.i16(0).end();
  return out.substr(5);
}

pgw::rules::SessionMasksPtr card_masks() {
  auto set = pgw::rules::load("masks:\n"
                              "  - name: card-numbers\n"
                              "    pattern: '\\b(\\d{4})[ -]?\\d{4}[ -]?\\d{4}[ -]?(\\d{4})\\b'\n"
                              "    replace: '\\1-****-****-\\2'\n");
  pgw::rules::SessionMasksPtr masks = pgw::rules::masks_for(*set, pgw::rules::Context{});
  REQUIRE(masks);
  return masks;
}

// A Bind body decoded as the session decodes it, and its values as the audit shows them.
std::string bind_parameters_json(const std::string& body, const pgw::rules::SessionMasks* masks, std::string* portal,
                                 std::string* statement) {
  pgw::BindView view;
  REQUIRE(pgw::decode_bind(body, &view));
  *portal = std::string(view.portal);
  *statement = std::string(view.statement);
  return pgw::parameters_json(view.parameters, masks);
}

// The same for a FunctionCall body, and the OID it calls.
std::string function_call_arguments(const std::string& body, const pgw::rules::SessionMasks* masks, uint32_t* oid) {
  pgw::FunctionCallView view;
  REQUIRE(pgw::decode_function_call(body, &view));
  *oid = view.function_oid;
  return pgw::parameters_json(view.arguments, masks);
}

}  // namespace

TEST_CASE("Bind values: text as it is, binary as \\x hex, NULL as null, the portal and statement named") {
  std::string portal, statement;
  std::string body = bind_body("p1", "s1", {{0, "it's \"7\""}, {1, std::string("\x01\xff", 2)}, {0, std::nullopt}});
  CHECK(bind_parameters_json(body, nullptr, &portal, &statement) == R"(["it's \"7\"","\\x01ff",null])");
  CHECK(portal == "p1");
  CHECK(statement == "s1");
}

TEST_CASE("Bind values are masked by the session's value masks, a binary text value too") {
  std::string portal, statement;
  std::string body = bind_body("", "", {{0, "card 4111 1111 1111 1111"}, {1, "4111111111111111"}, {1, "\x2a"}});
  CHECK(bind_parameters_json(body, card_masks().get(), &portal, &statement) ==
        R"(["card 4111-****-****-1111","4111-****-****-1111","\\x2a"])");
}

TEST_CASE("a Bind without parameters has no JSON array") {
  std::string portal, statement;
  CHECK(bind_parameters_json(bind_body("", "s", {}), nullptr, &portal, &statement).empty());
}

TEST_CASE("one format code applies to every parameter; control characters are escaped") {
  std::string out;
  pgw::Writer w(out);
  w.begin('B').cstr("").cstr("").i16(1).i16(1).i16(2);
  for (std::string v : {"\x0a", "\x0b"}) w.i32(1).bytes(v);
  w.i16(0).end();
  std::string portal, statement;
  CHECK(bind_parameters_json(out.substr(5), nullptr, &portal, &statement) == R"(["\\x0a","\\x0b"])");
  std::string text_body = bind_body("", "", {{0, "a\nb"}});
  CHECK(bind_parameters_json(text_body, nullptr, &portal, &statement) == R"(["a\u000ab"])");
}

TEST_CASE("FunctionCall arguments and the OID of the function called") {
  std::string out;
  pgw::Writer w(out);
  w.begin('F').i32(764);
  write_params(w, {{0, "4111 1111 1111 1111"}, {1, std::string("\0\x10", 2)}});
  w.i16(0).end();
  uint32_t oid = 0;
  CHECK(function_call_arguments(out.substr(5), card_masks().get(), &oid) ==
        R"(["4111-****-****-1111","\\x0010"])");
  CHECK(oid == 764);
}
