// The startup packet's `options`: pgwarden's own settings are taken out as the server would read
// them, and what is forwarded holds none.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "proxy/session/startup.h"

using Settings = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("pgwarden settings are taken out of options in each form the server reads") {
  Settings found;
  std::string rest = pgw::strip_pgwarden_options(
      "-c pgwarden.job_id=4711 -cpgwarden.commit=3f2a --pgwarden.x=1 -c search_path=app", &found);
  CHECK(rest == "-c search_path=app");
  CHECK(found == Settings{{"job_id", "4711"}, {"commit", "3f2a"}, {"x", "1"}});
}

TEST_CASE("the word after -c is its setting even when it is another -c, as the server reads it") {
  // Found by the startup fuzz target: "-c -c pgwarden.a=1 pgwarden.b=2" was read as a kept "-c"
  // and a taken pgwarden.a, which left "-c pgwarden.b=2" to forward: a pgwarden setting the
  // server would then have read.
  Settings found;
  std::string rest = pgw::strip_pgwarden_options("-c -c pgwarden.a=1#-c pgwarden.b=2", &found);
  CHECK(found.empty());
  CHECK(rest == "-c -c pgwarden.a=1#-c pgwarden.b=2");
  Settings again;
  pgw::strip_pgwarden_options(rest, &again);
  CHECK(again.empty());
}
