#include <catch2/catch.hpp>

#include "proxy/wire/encoding.h"

using namespace pgw;

TEST_CASE("base64 and base64url decode what RFC 4648 encodes, and refuse the rest") {
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("fo") == "Zm8=");
  std::string out;
  REQUIRE(base64_decode("Zm8=", &out));
  CHECK(out == "fo");
  CHECK_FALSE(base64_decode("Zm8", &out));
  REQUIRE(base64url_decode("-_8", &out));
  CHECK(out == "\xfb\xff");
  CHECK_FALSE(base64url_decode("a+b", &out));
}

TEST_CASE("hex and joined lists") {
  CHECK(to_hex(std::string("\x00\xab\x10", 3)) == "00ab10");
  CHECK(join({}, ";").empty());
  CHECK(join({"a"}, ";") == "a");
  CHECK(join({"", "b", "c"}, ";") == ";b;c");
}
