// The framer of proxy/wire/wire.h, on the inputs its fuzz target (test/fuzz/frontend.cc) found
// wrong.
#include <catch2/catch.hpp>

#include <string>

#include "proxy/wire/wire.h"

using namespace pgw;

TEST_CASE("a framer fed no bytes before any others stays empty and frames what follows") {
  Framer framer(1 << 20);
  framer.feed("", 0);  // with no buffer yet: nothing to copy, and nothing copied to nowhere
  CHECK(framer.buffered() == 0);
  CHECK_FALSE(framer.next());
  std::string query;
  Writer(query).begin('Q').cstr("SELECT 1").end();
  framer.feed(query.data(), query.size());
  auto m = framer.next();
  REQUIRE(m);
  CHECK(m->type == 'Q');
  CHECK(m->raw == query);
  CHECK_FALSE(framer.error());
}
