#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "store/cli.h"
#include "test/unit/store_testing.h"

using namespace pgw::store;
using namespace pgw::store::testing;

namespace {

int run(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return audit_command(static_cast<int>(argv.size()), argv.data());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("audit export writes the filtered rows to -o") {
  TempDir dir;
  std::string db = dir.file("audit.db"), out = dir.file("out.csv");
  fill_store(db, 4);
  CHECK(run({"audit", "export", "--store", db, "--job", "job-1", "--since", "2026-01-01",
             "-o", out}) == 0);
  auto rows = parse_csv(read_file(out));
  REQUIRE(rows.size() == 3);  // header, seq 1, seq 4
  CHECK(rows[1][0] == "1");
  CHECK(rows[2][0] == "4");
  CHECK(run({"audit", "export", "--store=" + db, "--format=jsonl", "--until",
             "2026-01-01T00:00:00Z", "-o", out}) == 0);
  CHECK(read_file(out).empty());
}

TEST_CASE("audit verify exits 0 on an intact chain and 1 on a broken one") {
  TempDir dir;
  std::string db = dir.file("audit.db"), key = dir.file("audit.key");
  std::ofstream(key) << "k3y\n";
  fill_store(db, 3, "k3y");
  CHECK(run({"audit", "verify", "--store", db, "--key-file", key}) == 0);
  tamper(db, "UPDATE audit_statement SET rule = 'none' WHERE seq = 2");
  CHECK(run({"audit", "verify", "--store", db, "--key-file", key}) == 1);
}

TEST_CASE("audit exits 2 on bad usage or unreadable input") {
  TempDir dir;
  std::string db = dir.file("audit.db");
  fill_store(db, 1);
  CHECK(run({"audit"}) == 2);
  CHECK(run({"audit", "frobnicate"}) == 2);
  CHECK(run({"audit", "export"}) == 2);                                     // no --store
  CHECK(run({"audit", "export", "--store", dir.file("missing.db")}) == 2);  // no such file
  CHECK(run({"audit", "export", "--store", db, "--since", "last week"}) == 2);
  CHECK(run({"audit", "export", "--store", db, "--format", "xml"}) == 2);
  CHECK(run({"audit", "export", "--store", db, "--decision", "maybe"}) == 2);
  CHECK(run({"audit", "export", "--store", db, "--colour"}) == 2);
  CHECK(run({"audit", "export", "--store", db, "--job"}) == 2);  // value missing
  CHECK(run({"audit", "export", "--store", db, "-o", dir.file("no/such/dir/x.csv")}) == 2);
  CHECK(run({"audit", "verify", "--store", db, "--key-file", dir.file("missing.key")}) == 2);
  CHECK(run({"audit", "verify", "--store", db, "--store", db}) == 2);
  std::ofstream(dir.file("k")) << "key";
  CHECK(run({"audit", "verify", "--store", db, "--key-file", dir.file("k")}) == 2);  // not keyed
}
