// Inputs of the session fuzz target (test/fuzz/session.cc) replayed through the same harness: a
// real worker, a client logged in with SCRAM and a fake PostgreSQL server. Its seed corpus holds
// the inputs that once went wrong (regression-*) next to ordinary sessions; under the sanitizers
// (test/run.sh's second build) a memory error in any of them fails this test.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test/fuzz/session_harness.h"

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("every input of the session fuzz target's seed corpus runs through a session that ends") {
  std::vector<std::filesystem::path> inputs;
  for (const auto& e : std::filesystem::directory_iterator(std::string(PGW_SOURCE_DIR) + "/test/fuzz/corpus/session"))
    inputs.push_back(e.path());
  std::sort(inputs.begin(), inputs.end());
  REQUIRE(inputs.size() > 10);
  for (const auto& p : inputs) {
    std::string input = read_file(p);
    if (input.empty()) continue;
    INFO(p.filename().string());
    CHECK(pgw::fuzz::run_session((input[0] & 1) != 0, std::string_view(input).substr(1)) == "");
  }
}

TEST_CASE("an ErrorResponse relayed to the client is read while its fields are alive") {
  // The severity of a relayed error was read from fields already freed (a use after free that the
  // sanitizers report): a statement the server fails, then another.
  CHECK(pgw::fuzz::run_session(false, std::string("Q\0\0\0\x10SELECT fail\0", 17) +
                                          std::string("Q\0\0\0\x0dSELECT 1\0", 14)) == "");
}
