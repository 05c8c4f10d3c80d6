// Rules micro-benchmark: parse + evaluate per statement against a 50-rule set in which pgbench's
// statements miss the first 49 rules and are allowed by the last, so every rule is tried.
// Runs pgbench's TPC-B statements and, when present, every statement of test/corpus/*.sql.
// Prints the median and 99th percentile in microseconds, for parse + evaluate and for
// evaluate alone.
//
// Usage: rules_bench [iterations per statement, default 20000]
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "rules/rules.h"
#include "sqlparse/facts.h"

namespace {

using Clock = std::chrono::steady_clock;
using pgw::rules::Action;

const char* const kPgbench[] = {
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
    ("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
     "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);"),  // one statement over two lines
    "BEGIN;",
    "END;",
};

// The match and action of one of seven kinds of rule a DBA writes, none of which matches
// pgbench's statements.
std::string missing_rule(int i) {
  std::string n = std::to_string(i);
  switch (i % 7) {
    case 0: return "{ commands: [delete, update], where: absent }, action: deny";
    case 1: return "{ principals: ['ci-" + n + "/*@refs/heads/*'] }, action: deny";
    case 2: return "{ tables: ['secret_" + n + ".*', payroll] }, action: deny";
    case 3: return "{ functions: [pg_read_file, lo_export, 'dblink*'] }, action: deny";
    case 4: return "{ commands: ['drop_*', truncate, alter_table_drop_column] }, action: hold, approvers: ['dba:*']";
    case 5:
      return "{ columns: ['*.staff_" + n + ".salary'], commands: [select, update] }, action: deny";
    default: return "{ client_addrs: ['10." + n + ".0.0/16', 'fd00::/8'] }, action: log";
  }
}

// 49 rules that miss, two of them `sql:` patterns, then the allow.
std::string rules_yaml() {
  std::string yaml = "default: deny\nrules:\n";
  for (int i = 0; i < 47; ++i) {
    yaml += "  - { name: rule-" + std::to_string(i) + ", match: " + missing_rule(i) + " }\n";
  }
  yaml += "  - { name: no-sleep, match: { sql: '(?i)pg_sleep' }, action: deny }\n";
  yaml += "  - { name: no-copy-program, match: { sql: '(?i)\\bprogram\\b' }, action: deny }\n";
  yaml += "  - { name: pgbench, action: allow,\n";
  yaml += "      match: { principals: [pgbench], databases: [bench] } }\n";
  return yaml;
}

std::vector<std::string> corpus_statements() {
  std::vector<std::string> out;
  std::filesystem::path dir = std::filesystem::path(PGW_SOURCE_DIR) / "test" / "corpus";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".sql") continue;
    std::ifstream in(entry.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    pgw::sql::ParseResult parsed = pgw::sql::parse(text, {"public"});
    for (const auto& s : parsed.statements) out.push_back(text.substr(s.offset, s.length));
  }
  return out;
}

double percentile(std::vector<double>* samples, double p) {
  size_t k = std::min(samples->size() - 1, static_cast<size_t>(p * samples->size()));
  std::nth_element(samples->begin(), samples->begin() + k, samples->end());
  return (*samples)[k];
}

struct Samples {
  std::vector<double> total_us;
  std::vector<double> evaluate_us;
};

// Times `iterations` parse + evaluate runs of one statement; false if a pgbench statement
// was not allowed by the last rule.
bool run(const pgw::rules::RuleSet& rules, const std::string& sql, int iterations, bool must_allow,
         Samples* out) {
  pgw::rules::Context ctx{"pgbench", "", "bench", "127.0.0.1"};
  for (int i = 0; i < iterations; ++i) {
    Clock::time_point start = Clock::now();
    pgw::sql::ParseResult parsed = pgw::sql::parse(sql, {"public"});
    Clock::time_point parsed_at = Clock::now();
    for (const auto& facts : parsed.statements) {
      pgw::rules::Decision d = pgw::rules::evaluate(rules, ctx, facts, sql);
      if (must_allow && (d.action != Action::allow || d.rule != "pgbench")) {
        std::fprintf(stderr, "%s: %s by \"%s\", expected allow by pgbench\n", sql.c_str(),
                     d.audit_name().c_str(), d.rule.c_str());
        return false;
      }
    }
    Clock::time_point end = Clock::now();
    out->total_us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    out->evaluate_us.push_back(std::chrono::duration<double, std::micro>(end - parsed_at).count());
  }
  return true;
}

void print(const char* label, size_t statements, Samples* s) {
  std::printf(
      "%-24s %6zu stmts  parse+evaluate median %6.2f us  p99 %6.2f us   "
      "evaluate median %5.2f us  p99 %5.2f us\n",
      label, statements, percentile(&s->total_us, 0.5), percentile(&s->total_us, 0.99),
      percentile(&s->evaluate_us, 0.5), percentile(&s->evaluate_us, 0.99));
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20000;
  std::vector<pgw::rules::LoadError> errors;
  pgw::rules::RuleSetPtr rules =
      pgw::rules::load_rules_node(YAML::Load(rules_yaml()), "bench", &errors);
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!rules) return 1;
  std::printf("rule set: %zu rules, pgbench allowed by the last one\n",
              pgw::rules::summarize(*rules).size() - 1);
  Samples pgbench;
  for (const char* sql : kPgbench) {
    if (!run(*rules, sql, iterations, true, &pgbench)) return 1;
  }
  print("pgbench (TPC-B)", std::size(kPgbench), &pgbench);
  std::vector<std::string> corpus = corpus_statements();
  if (corpus.empty()) return 0;
  Samples all;
  int per_statement = std::max(1, iterations / 20);
  for (const std::string& sql : corpus) run(*rules, sql, per_statement, false, &all);
  print("test/corpus", corpus.size(), &all);
  return 0;
}
