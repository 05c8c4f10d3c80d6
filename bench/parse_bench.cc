// Parse benchmark: microseconds per statement for sqlparse::parse() over the test corpus and
// over pgbench's statements, with the fingerprint/normalize options on and off, next to
// libpg_query's bare pg_query_parse. Usage: parse_bench [corpus file] [rounds]
#include <pg_query.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "sqlparse/facts.h"
#include "test/corpus/corpus_sql.h"

namespace {

const std::vector<std::string> kPgbench = {
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
};

// The "sql:" texts of the corpus that parse.
std::vector<std::string> corpus(const std::string& path) {
  std::vector<std::string> out;
  for (std::string& sql : pgw::corpus::sql_texts(path)) {
    auto r = pgw::sql::parse(sql, {});
    if (r.ok() && !r.statements.empty()) out.push_back(std::move(sql));
  }
  return out;
}

// Times `run` on every statement of `sqls`, `rounds` times; prints median and p99 in us.
void measure(const char* label, const std::vector<std::string>& sqls, int rounds,
             const std::function<void(const std::string&)>& run) {
  std::vector<double> us;
  us.reserve(sqls.size() * static_cast<size_t>(rounds));
  for (const auto& s : sqls) run(s);  // warm up
  for (int r = 0; r < rounds; ++r) {
    for (const auto& s : sqls) {
      auto start = std::chrono::steady_clock::now();
      run(s);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    }
  }
  std::sort(us.begin(), us.end());
  std::printf("%-44s %8zu %10.2f %10.2f\n", label, us.size(), us[us.size() / 2], us[us.size() * 99 / 100]);
}

void measure_all(const char* set, const std::vector<std::string>& sqls, int rounds) {
  pgw::sql::ParseOptions fast{false, false}, normal{true, false}, full{true, true};
  std::string name(set);
  measure((name + " pg_query_parse alone").c_str(), sqls, rounds, [](const std::string& s) {
    pg_query_free_parse_result(pg_query_parse(s.c_str()));
  });
  measure((name + " parse() no fingerprint").c_str(), sqls, rounds,
          [&](const std::string& s) { pgw::sql::parse(s, {}, fast); });
  measure((name + " parse() + fingerprint (default)").c_str(), sqls, rounds,
          [&](const std::string& s) { pgw::sql::parse(s, {}, normal); });
  measure((name + " parse() + fingerprint + normalize").c_str(), sqls, rounds,
          [&](const std::string& s) { pgw::sql::parse(s, {}, full); });
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = argc > 1 ? argv[1] : std::string(PGW_SOURCE_DIR) + "/test/corpus/statements.txt";
  int rounds = argc > 2 ? std::stoi(argv[2]) : 200;
  std::vector<std::string> sqls = corpus(path);
  if (sqls.empty()) {
    std::fprintf(stderr, "%s: no statements read\n", path.c_str());
    return 1;
  }
  std::printf("%-44s %8s %10s %10s\n", "per call (us)", "calls", "median", "p99");
  measure_all("pgbench", kPgbench, rounds * 20);
  measure_all("corpus", sqls, rounds);
  return 0;
}
