// `pgwarden learn` and `pgwarden coverage`: options, reading the audit rows into recorded
// statements, and printing what rules/ made of them (a rules file; a table or CSV).
#include "proxy/app/learn_commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <set>
#include <string_view>

#include "proxy/app/command_line.h"
#include "rules/coverage.h"
#include "rules/learn.h"
#include "store/text_format.h"

namespace pgw {

namespace {

constexpr int kOk = 0, kUsage = 2;
constexpr size_t kDefaultTop = 10;

constexpr const char* kLearnUsage =
    "usage: pgwarden learn --store STORE [--principal GLOB] [--since T] [--until T]\n";
constexpr const char* kCoverageUsage =
    "usage: pgwarden coverage -c pgwarden.yaml [--store STORE] [--since T] [--until T]\n"
    "                         [--format table|csv] [--top N]\n";
constexpr const char* kCommonUsage =
    "STORE is a SQLite file (audit.db) or a PostgreSQL store's URI (postgresql://...); `-c\n"
    "pgwarden.yaml` in its place means the store that configuration names. T is RFC 3339\n"
    "(2026-11-23T09:34:51Z) or a date (2026-11-23); --since is inclusive, --until exclusive.\n";

int usage_error(std::string_view command, const std::string& why, const char* usage) {
  fmt::print(stderr, "pgwarden {}: {}\n{}{}", command, why, usage, kCommonUsage);
  return kUsage;
}

// Every option is one of `known`, given once, and there are no other words.
bool check_options(const Args& a, std::initializer_list<std::string_view> known,
                   std::string* error) {
  if (!a.error.empty()) {
    *error = a.error;
    return false;
  }
  if (!a.words.empty()) {
    *error = fmt::format("unexpected argument \"{}\"", a.words[0]);
    return false;
  }
  std::set<std::string> seen;
  for (const auto& [name, value] : a.options) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      *error = fmt::format("unknown option \"{}\"", name);
      return false;
    }
    if (!seen.insert(name).second) {
      *error = fmt::format("{} given twice", name);
      return false;
    }
  }
  return true;
}

bool time_option(const Args& a, const char* name, std::optional<int64_t>* out, std::string* error) {
  const std::string* text = a.get(name);
  if (text) *out = store::parse_time_argument(name, *text, error);
  return !text || out->has_value();
}

// --principal, --since and --until.
bool read_filter(const Args& a, store::ExportFilter* filter, std::string* error) {
  if (const std::string* glob = a.get("--principal")) filter->principal_glob = *glob;
  return time_option(a, "--since", &filter->since_us, error) &&
         time_option(a, "--until", &filter->until_us, error);
}

std::vector<std::string> split_list(const std::string& joined) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < joined.size()) {
    size_t end = joined.find(';', start);
    if (end == std::string::npos) end = joined.size();
    out.push_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The statement one exported row records.
rules::ObservedStatement observed(const store::ExportCells& row) {
  namespace column = store::export_column;
  rules::ObservedStatement o;
  o.ts_us = store::parse_ts(row[column::ts]).value_or(0);
  o.principal = row[column::principal];
  o.job_id = row[column::job_id];
  o.database = row[column::database];
  o.client_addr = row[column::client_addr];
  o.statement = row[column::statement];
  o.fingerprint = row[column::fingerprint];
  o.tables_read = split_list(row[column::tables_read]);
  o.tables_written = split_list(row[column::tables_written]);
  o.decision = row[column::decision];
  o.rule = row[column::rule];
  o.sqlstate = row[column::sqlstate];
  return o;
}

// Hands every recorded statement of the filter to `each`; prints why and returns false if the
// store cannot be read.
bool read_statements(std::string_view command, const store::StoreLocation& store,
                     const store::ExportFilter& filter,
                     const std::function<void(const rules::ObservedStatement&)>& each) {
  std::string error;
  bool ok = store::read_audit(
      store, filter, [&](const store::ExportCells& row) { each(observed(row)); }, &error);
  if (!ok) fmt::print(stderr, "pgwarden {}: {}\n", command, error);
  return ok;
}

// "from T to T" of the records read, or "" when none was.
std::string period(int64_t first_us, int64_t last_us, int64_t records) {
  if (records == 0) return "";
  return fmt::format("from {} to {}", store::format_ts(first_us), store::format_ts(last_us));
}

// A statement on one line of a table, cut to `width` characters.
std::string one_line(std::string text, size_t width) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (text.size() > width) text = text.substr(0, width - 3) + "...";
  return text;
}

void print_table(const rules::Coverage& c, const std::vector<rules::DefaultFingerprint>& top,
                 const std::string& heading) {
  fmt::print("{}\n\n", heading);
  size_t width = 9;
  for (const rules::RuleCount& r : c.rules) width = std::max(width, r.rule.size());
  auto row = [width](std::string_view rule, std::string_view action, auto recorded, auto judged) {
    fmt::print("{:<{}}  {:<17}  {:>9}  {:>9}\n", rule, width, action, recorded, judged);
  };
  row("rule", "action", "recorded", "judged");
  for (const rules::RuleCount& r : c.rules) row(r.rule, r.action, r.recorded, r.judged);
  if (c.unparsed > 0) row("(parse error)", "on_parse_error", c.unparsed, c.unparsed);
  for (const auto& [rule, count] : c.recorded_other_rules) row(rule, "(not in the file)", count, "-");
  std::string never;
  for (size_t i = 0; i + 1 < c.rules.size(); ++i) {
    if (c.rules[i].judged == 0) never += (never.empty() ? "" : ", ") + c.rules[i].rule;
  }
  fmt::print("\nrules that never matched (judged): {}\n", never.empty() ? "none" : never);
  if (top.empty()) {
    fmt::print("no statement fell to the default\n");
    return;
  }
  fmt::print("\nmost frequent statements that fell to the default (judged):\n");
  fmt::print("{:>9}  {:<16}  {:<30}  {}\n", "count", "fingerprint", "principal", "example");
  for (const rules::DefaultFingerprint& f : top) {
    fmt::print("{:>9}  {:<16}  {:<30}  {}\n", f.count, f.fingerprint, f.principal,
               one_line(f.example, 100));
  }
}

void csv_row(const std::vector<std::string>& cells) {
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) std::cout << ',';
    store::write_csv_field(std::cout, cells[i]);
  }
  std::cout << "\r\n";
}

// One CSV with a row per rule (kind "rule", the default's rule "(default)"), statements that do
// not parse ("parse_error"), rules recorded but not in the file ("not_in_file") and the
// fingerprints that fell to the default ("default_fingerprint", the count in `judged`).
void print_csv(const rules::Coverage& c, const std::vector<rules::DefaultFingerprint>& top) {
  csv_row({"kind", "rule", "action", "recorded", "judged", "fingerprint", "principal", "example"});
  for (const rules::RuleCount& r : c.rules) {
    csv_row({"rule", r.rule, r.action, std::to_string(r.recorded), std::to_string(r.judged), "", "",
             ""});
  }
  if (c.unparsed > 0) {
    csv_row({"parse_error", "", "", std::to_string(c.unparsed), std::to_string(c.unparsed), "", "",
             ""});
  }
  for (const auto& [rule, count] : c.recorded_other_rules) {
    csv_row({"not_in_file", rule, "", std::to_string(count), "", "", "", ""});
  }
  for (const rules::DefaultFingerprint& f : top) {
    csv_row({"default_fingerprint", "", "", "", std::to_string(f.count), f.fingerprint, f.principal,
             f.example});
  }
  std::cout.flush();
}

bool top_option(const Args& a, size_t* top, std::string* error) {
  const std::string* text = a.get("--top");
  if (!text) return true;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), *top);
  if (ec == std::errc() && end == text->data() + text->size() && *top > 0) return true;
  *error = fmt::format("--top \"{}\" is not a whole number of at least 1", *text);
  return false;
}

}  // namespace

int learn_command(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2);
  std::string error;
  store::ExportFilter filter;
  if (!check_options(a, {"--store", "-c", "--principal", "--since", "--until"}, &error) ||
      !read_filter(a, &filter, &error)) {
    return usage_error("learn", error, kLearnUsage);
  }
  const std::string* store_arg = a.get("--store");
  const std::string* config = a.get("-c");
  if (store_arg && config)
    return usage_error("learn", "give either --store or -c, not both", kLearnUsage);
  if (!store_arg && !config) {
    return usage_error("learn", "--store (or -c pgwarden.yaml) is required", kLearnUsage);
  }
  store::ConfiguredStore configured;
  if (config && !configured_store(*config, &configured)) return kUsage;
  store::StoreLocation store =
      config ? configured.location : store::StoreLocation::parse(*store_arg);
  rules::Learning learning;
  if (!read_statements("learn", store, filter,
                       [&](const rules::ObservedStatement& o) { rules::learn(&learning, o); })) {
    return kUsage;
  }
  auto given = [&](const char* name) { return a.get(name) ? *a.get(name) : std::string(); };
  rules::LearnSource source{store.describe(), given("--since"), given("--until"),
                            given("--principal"),
                            period(learning.first_us, learning.last_us, learning.records)};
  std::cout << rules::proposed_rules(learning, source) << std::flush;
  return kOk;
}

int coverage_command(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2);
  std::string error;
  store::ExportFilter filter;
  size_t top = kDefaultTop;
  if (!check_options(a, {"-c", "--store", "--since", "--until", "--format", "--top"}, &error) ||
      !read_filter(a, &filter, &error) || !top_option(a, &top, &error)) {
    return usage_error("coverage", error, kCoverageUsage);
  }
  const std::string* config = a.get("-c");
  if (!config) return usage_error("coverage", "-c pgwarden.yaml is required", kCoverageUsage);
  std::string format = a.get("--format") ? *a.get("--format") : "table";
  if (format != "table" && format != "csv") {
    return usage_error("coverage", fmt::format("--format \"{}\" is neither table nor csv", format),
                       kCoverageUsage);
  }
  Config cfg;
  rules::RuleSetPtr rules;
  if (!load_all(*config, &cfg, &rules, ConfigUse::audit)) return kUsage;
  const std::string* store_arg = a.get("--store");
  store::StoreLocation store =
      store_arg ? store::StoreLocation::parse(*store_arg) : configured_store(cfg).location;
  rules::Coverage coverage = rules::start_coverage(*rules);
  int64_t first_us = 0, last_us = 0;
  if (!read_statements("coverage", store, filter, [&](const rules::ObservedStatement& o) {
        first_us = coverage.statements == 0 ? o.ts_us : std::min(first_us, o.ts_us);
        last_us = std::max(last_us, o.ts_us);
        rules::cover(&coverage, *rules, o);
      })) {
    return kUsage;
  }
  std::vector<rules::DefaultFingerprint> frequent = rules::most_frequent_defaults(coverage, top);
  if (format == "csv") {
    print_csv(coverage, frequent);
    return kOk;
  }
  std::string when = period(first_us, last_us, coverage.statements);
  print_table(
      coverage, frequent,
      fmt::format("rules of {} on {}: {} statements recorded{}\n"
                  "recorded: the rule the audit names; judged: the rule these rules pick "
                  "for the same statement now",
                  *config, store.describe(), coverage.statements, when.empty() ? "" : " " + when));
  return kOk;
}

}  // namespace pgw
