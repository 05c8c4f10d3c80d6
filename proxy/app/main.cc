// pgwarden's command line (SPEC section 3). Exit codes: 0 success, 1 a check failed, 2 bad usage
// or unreadable input.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/app/command_line.h"
#include "proxy/app/learn_commands.h"
#include "proxy/app/serve.h"
#include "proxy/config/config.h"
#include "proxy/identity/scram.h"
#include "proxy/wire/encoding.h"
#include "rules/rules.h"
#include "sqlparse/facts.h"
#include "store/cli.h"

namespace {

using pgw::Args;
using pgw::load_all;

const char* kUsage =
    "usage: pgwarden serve   -c pgwarden.yaml\n"
    "       pgwarden check   -c pgwarden.yaml\n"
    "       pgwarden test    -c pgwarden.yaml\n"
    "       pgwarden explain -c pgwarden.yaml --principal P [--job J] [--database D] [--client-addr A] SQL\n"
    "       pgwarden audit export --store STORE [--format csv|jsonl] [--since T] [--until T]\n"
    "                             [--principal GLOB] [--job ID] [--decision D] [-o FILE]\n"
    "       pgwarden audit verify --store STORE [--key-file K]\n"
    "       pgwarden audit prune  --store STORE --before T|AGE [--key-file K]\n"
    "       pgwarden approvals list --store STORE [--pending]\n"
    "       pgwarden learn    --store STORE [--principal GLOB] [--since T] [--until T]\n"
    "       pgwarden coverage -c pgwarden.yaml [--store STORE] [--since T] [--until T] [--format table|csv] [--top N]\n"
    "         (STORE: audit.db or postgresql://...; or -c pgwarden.yaml for the store it names)\n"
    "       pgwarden scram-verifier            (reads a password on stdin, prints its verifier)\n"
    "       pgwarden version\n";

int usage(const std::string& why) {
  std::fprintf(stderr, "pgwarden: %s\n%s", why.c_str(), kUsage);
  return 2;
}

int check(const std::string& path) {
  pgw::Config cfg;
  pgw::rules::RuleSetPtr rules;
  if (!load_all(path, &cfg, &rules)) return 1;
  std::printf("%s: ok\n", path.c_str());
  return 0;
}

int run_tests(const std::string& path) {
  pgw::Config cfg;
  pgw::rules::RuleSetPtr rules;
  if (!load_all(path, &cfg, &rules, pgw::ConfigUse::rules)) return 1;
  int total = 0;
  auto failures = pgw::rules::run_tests(*rules, &total);
  for (const auto& f : failures)
    std::printf("FAIL tests[%d]: principal=%s sql=%s\n  expected: %s\n  got:      %s\n", f.index, f.principal.c_str(),
                f.sql.c_str(), f.expected.c_str(), f.got.c_str());
  std::printf("%d passed, %zu failed\n", total - static_cast<int>(failures.size()), failures.size());
  return failures.empty() ? 0 : 1;
}

// A list of facts for explain: comma-separated, "-" when empty.
std::string listed(const std::vector<std::string>& v) { return v.empty() ? "-" : pgw::join(v, ", "); }

int explain(const std::string& path, const Args& a) {
  const std::string* principal = a.get("--principal");
  if (!principal) return usage("explain needs --principal");
  if (a.words.size() != 1) return usage("explain needs exactly one SQL argument");
  pgw::Config cfg;
  pgw::rules::RuleSetPtr rules;
  if (!load_all(path, &cfg, &rules, pgw::ConfigUse::rules)) return 1;
  pgw::rules::Context ctx{*principal, a.get("--job") ? *a.get("--job") : "",
                          a.get("--database") ? *a.get("--database") : "",
                          a.get("--client-addr") ? *a.get("--client-addr") : "127.0.0.1"};
  const std::string& sql = a.words[0];
  pgw::sql::ParseResult parsed = pgw::sql::parse(sql, {"public"});
  if (!parsed.ok()) {
    pgw::rules::Decision d = pgw::rules::evaluate_parse_error(*rules, ctx, parsed.error);
    std::printf("parse error: %s\ndecision:   %s (on_parse_error)\n", parsed.error.c_str(), d.audit_name().c_str());
    return 0;
  }
  for (size_t i = 0; i < parsed.statements.size(); ++i) {
    const auto& f = parsed.statements[i];
    std::string text = sql.substr(f.offset, f.length ? f.length : std::string::npos);
    pgw::rules::Decision d = pgw::rules::evaluate(*rules, ctx, f, text);
    std::printf("statement %zu: %s\n", i + 1, text.c_str());
    std::printf("  command:        %s\n  commands:       %s\n  classes:        %s\n", f.command.c_str(),
                listed(f.commands).c_str(), listed(f.classes).c_str());
    std::printf("  tables read:    %s\n  tables written: %s\n", listed(f.tables_read).c_str(),
                listed(f.tables_written).c_str());
    if (!f.tables_named.empty()) std::printf("  tables named:   %s\n", listed(f.tables_named).c_str());
    if (!f.lock_mode.empty()) std::printf("  lock mode:      %s\n", f.lock_mode.c_str());
    std::printf("  columns:        %s\n  functions:      %s\n", listed(f.columns).c_str(), listed(f.functions).c_str());
    std::printf("  where absent:   %s\n  fingerprint:    %s\n", f.where_absent ? "yes" : "no", f.fingerprint.c_str());
    std::printf("  decision:       %s\n  rule:           %s\n", d.audit_name().c_str(),
                d.rule.empty() ? "(default)" : d.rule.c_str());
    if (!d.message.empty()) std::printf("  message:        %s\n", d.message.c_str());
  }
  return 0;
}

// Runs `audit` or `approvals` (argv[1]); `-c pgwarden.yaml` (or --config) among the arguments
// stands for the store that configuration names.
int store_command(int argc, char** argv) {
  std::vector<char*> args;
  const char* config = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg != "-c" && arg != "--config") {
      args.push_back(argv[i]);
      continue;
    }
    if (i + 1 >= argc) return usage(std::string(arg) + " needs a value");
    if (config) return usage(std::string(arg) + " given twice");
    config = argv[++i];
  }
  pgw::store::ConfiguredStore store;
  if (config && !pgw::configured_store(config, &store)) return 2;
  const pgw::store::ConfiguredStore* configured = config ? &store : nullptr;
  int n = static_cast<int>(args.size());
  if (args[0] == std::string_view("audit")) return pgw::store::audit_command(n, args.data(), configured);
  return pgw::store::approvals_command(n, args.data(), configured);
}

int scram_verifier() {
  std::string password;
  std::getline(std::cin, password);
  if (password.empty()) return usage("scram-verifier reads a non-empty password on stdin");
  std::printf("%s\n", pgw::format_scram_verifier(pgw::make_scram_verifier(password)).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("no command given");
  std::string cmd = argv[1];
  if (cmd == "version" || cmd == "--version") {
    std::printf("pgwarden 0.1.0\n");
    return 0;
  }
  if (cmd == "scram-verifier") return scram_verifier();
  if (cmd == "audit" || cmd == "approvals") return store_command(argc, argv);
  if (cmd == "learn") return pgw::learn_command(argc, argv);
  if (cmd == "coverage") return pgw::coverage_command(argc, argv);
  if (cmd != "serve" && cmd != "check" && cmd != "test" && cmd != "explain")
    return usage("unknown command \"" + cmd + "\"");
  Args a = pgw::parse_args(argc, argv, 2);
  if (!a.error.empty()) return usage(a.error);
  const std::string* config = a.get("-c");
  if (!config) return usage(cmd + " needs -c pgwarden.yaml");
  if (cmd == "serve") return pgw::serve(*config);
  if (cmd == "check") return check(*config);
  if (cmd == "test") return run_tests(*config);
  return explain(*config, a);
}
