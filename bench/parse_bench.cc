// Parse benchmark: microseconds per statement for sqlparse::parse() over the test corpus and
// over pgbench's statements, with the fingerprint/normalize options on and off, next to
// libpg_query's bare pg_query_parse; then a stream like pgbench -S in the simple protocol (the
// same SELECT with a new aid every time, no text twice) through parse() and through a worker's
// parse cache, as the proxy judges it. Usage: parse_bench [corpus file] [rounds]
#include <pg_query.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "proxy/judge/parse_cache.h"
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

// Prints the median and p99 of `us`.
void report(const char* label, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  std::printf("%-48s %8zu %10.2f %10.2f\n", label, us.size(), us[us.size() / 2], us[us.size() * 99 / 100]);
}

// Microseconds `run` takes on `sql`.
double time_one(const std::function<void(const std::string&)>& run, const std::string& sql) {
  auto start = std::chrono::steady_clock::now();
  run(sql);
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
}

// Times `run` on every statement of `sqls`, `rounds` times; prints median and p99 in us.
void measure(const char* label, const std::vector<std::string>& sqls, int rounds,
             const std::function<void(const std::string&)>& run) {
  std::vector<double> us;
  us.reserve(sqls.size() * static_cast<size_t>(rounds));
  for (const auto& s : sqls) run(s);  // warm up
  for (int r = 0; r < rounds; ++r)
    for (const auto& s : sqls) us.push_back(time_one(run, s));
  report(label, std::move(us));
}

// pgbench -S's statement as the simple protocol sends it, with a new aid each time: `count`
// distinct texts.
std::vector<std::string> select_only_stream(size_t count) {
  std::vector<std::string> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i)
    out.push_back("SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(1 + i * 7919 % 1000000) + ";");
  return out;
}

// The stream through parse() and through a parse cache, alternating in chunks so that both see
// the same load on the machine; each text is parsed once by each. Then the text the extended
// protocol sends with every execution, through the cache.
void measure_stream(size_t count) {
  std::vector<std::string> stream = select_only_stream(count);
  pgw::ParseCache cache;
  pgw::sql::ParseOptions options;  // as the proxy judges: fingerprint, no normalized text
  auto direct = [&](const std::string& s) { pgw::sql::parse(s, {}, options); };
  auto cached = [&](const std::string& s) { pgw::parse_cached(cache, s, {}, options); };
  std::vector<double> direct_us, cached_us, repeated_us;
  for (size_t chunk = 0; chunk < stream.size(); chunk += 1000) {
    size_t end = std::min(stream.size(), chunk + 1000);
    for (size_t i = chunk; i < end; ++i) direct_us.push_back(time_one(direct, stream[i]));
    for (size_t i = chunk; i < end; ++i) cached_us.push_back(time_one(cached, stream[i]));
  }
  report("pgbench -S, new aid each time: parse()", std::move(direct_us));
  report("pgbench -S, new aid each time: parse cache", std::move(cached_us));
  for (size_t i = 0; i < count; ++i) repeated_us.push_back(time_one(cached, kPgbench[1]));
  report("pgbench -S extended, same text: parse cache", std::move(repeated_us));
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
  std::printf("%-48s %8s %10s %10s\n", "per call (us)", "calls", "median", "p99");
  measure_all("pgbench", kPgbench, rounds * 20);
  measure_all("corpus", sqls, rounds);
  measure_stream(static_cast<size_t>(rounds) * 1000);
  return 0;
}
