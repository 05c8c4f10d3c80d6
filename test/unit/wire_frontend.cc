#include <catch2/catch.hpp>

#include "proxy/wire/frontend.h"
#include "proxy/wire/wire.h"

using namespace pgw;

namespace {

std::string body_of(const std::string& message) { return message.substr(5); }

}  // namespace

TEST_CASE("Parse, Bind, Execute, Describe and Close decode into views of their fields") {
  std::string parse, bind, execute, close;
  Writer(parse).begin('P').cstr("s1").cstr("SELECT $1").i16(1).i32(23).end();
  Writer(bind).begin('B').cstr("p1").cstr("s1").i16(1).i16(1).i16(2).i32(2).bytes("\x01\x02").i32(-1).i16(0).end();
  Writer(execute).begin('E').cstr("p1").i32(10).end();
  Writer(close).begin('C').u8('P').cstr("p1").end();
  std::string pb = body_of(parse), bb = body_of(bind), eb = body_of(execute), cb = body_of(close);
  ParseView p;
  REQUIRE(decode_parse(pb, &p));
  CHECK(p.statement == "s1");
  CHECK(p.query == "SELECT $1");
  BindView b;
  REQUIRE(decode_bind(bb, &b));
  CHECK(b.portal == "p1");
  CHECK(b.statement == "s1");
  REQUIRE(b.parameters.values.size() == 2);
  CHECK(*b.parameters.values[0] == "\x01\x02");
  CHECK(b.parameters.binary(0));
  CHECK(b.parameters.binary(1));
  CHECK_FALSE(b.parameters.values[1]);
  ExecuteView e;
  REQUIRE(decode_execute(eb, &e));
  CHECK(e.portal == "p1");
  CHECK(e.max_rows == 10);
  TargetView t;
  REQUIRE(decode_target(cb, &t));
  CHECK(t.portal());
  CHECK(t.name == "p1");
}

TEST_CASE("malformed frontend messages are refused, not half read") {
  std::string bind;
  Writer(bind).begin('B').cstr("").cstr("").i16(0).i16(1).i32(100).bytes("short").end();
  BindView b;
  CHECK_FALSE(decode_bind(body_of(bind), &b));
  ExecuteView e;
  CHECK_FALSE(decode_execute(std::string("p1\0\0\0\0\0extra", 12), &e));
  TargetView t;
  CHECK_FALSE(decode_target(std::string("Xname\0", 6), &t));
  FunctionCallView f;
  CHECK_FALSE(decode_function_call(std::string("\0\0", 2), &f));
}
