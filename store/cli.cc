#include "store/cli.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <signal.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "store/audit.h"
#include "store/key_file.h"
#include "store/text_format.h"

namespace pgw::store {
namespace {

constexpr int kOk = 0, kBroken = 1, kUsage = 2;

constexpr const char* kUsageText =
    "usage: pgwarden audit export --store STORE [--format csv|jsonl] [--since T] [--until T]\n"
    "                             [--principal GLOB] [--job ID] [--decision D] [-o FILE]\n"
    "       pgwarden audit export --store STORE --follow [--after-seq N|INSTANCE:N,...]\n"
    "                             [--format csv|jsonl] [--since T] [--principal GLOB] [--job ID]\n"
    "                             [--decision D] [-o FILE]\n"
    "       pgwarden audit verify --store STORE [--key-file K]\n"
    "       pgwarden audit prune --store STORE --before T|AGE [--key-file K]\n"
    "       pgwarden approvals list --store STORE [--pending]\n"
    "STORE is a SQLite file (audit.db) or a PostgreSQL store's URI (postgresql://..., schema\n"
    "pgwarden); `-c pgwarden.yaml` in its place means the store that configuration names (and\n"
    "verify's key its audit.hmac_key_file).\n"
    "T is RFC 3339 (2026-11-23T09:34:51Z) or a date (2026-11-23, midnight UTC); --since is\n"
    "inclusive, --until exclusive. GLOB matches principals, `*` standing for any characters.\n"
    "--follow keeps running, writing each record once its outcome is committed (or once it is\n"
    "10 s old), until Ctrl-C, SIGTERM or the reader goes away; --after-seq starts after that\n"
    "record (per instance of a PostgreSQL store with several).\n"
    "prune removes the records older than T (or than AGE ago: 400d, 12h, 30m, 90s) with their\n"
    "outcomes, from the front of each chain (every instance's), and writes an anchor that verify\n"
    "checks and reports; a record still running or held for approval, and every record after\n"
    "it, is kept. Export what you must archive first. The key is verify's.\n";

int usage_error(const std::string& message) {
  fmt::print(stderr, "pgwarden audit: {}\n{}", message, kUsageText);
  return kUsage;
}

// Whether `flag` (an option without a value) is among the arguments; `args` gets the others.
bool take_flag(int argc, char** argv, std::string_view flag, std::vector<char*>* args) {
  bool found = false;
  for (int i = 0; i < argc; ++i) {
    if (i >= 2 && std::string_view(argv[i]) == flag) found = true;
    else args->push_back(argv[i]);
  }
  return found;
}

// Parses `--name value` and `--name=value` pairs into `options`, allowing only `known` names
// (and --store), and finds the store: --store's, or else `configured`.
bool parse_options(int argc, char** argv, std::set<std::string> known,
                   const ConfiguredStore* configured, std::map<std::string, std::string>* options,
                   StoreLocation* store, std::string* error) {
  known.insert("--store");
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i], value;
    size_t eq = arg.find('=');
    bool inline_value = arg.starts_with("--") && eq != std::string::npos;
    if (inline_value) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    if (!known.contains(arg)) {
      *error = fmt::format("unknown argument \"{}\"", argv[i]);
      return false;
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        *error = fmt::format("{} needs a value", arg);
        return false;
      }
      value = argv[++i];
    }
    if (!options->emplace(arg, value).second) {
      *error = fmt::format("{} given twice", arg);
      return false;
    }
  }
  if (options->contains("--store") && configured) {
    *error = "give either --store or -c, not both";
    return false;
  }
  if (!options->contains("--store") && !configured) {
    *error = "--store (or -c pgwarden.yaml) is required";
    return false;
  }
  *store = configured ? configured->location : StoreLocation::parse(options->at("--store"));
  return true;
}

bool parse_time_option(const std::map<std::string, std::string>& options, const char* name,
                       std::optional<int64_t>* out, std::string* error) {
  auto it = options.find(name);
  if (it == options.end()) return true;
  *out = parse_time_argument(name, it->second, error);
  return out->has_value();
}

// `--before`: a time as parse_time_option reads it, or an age (a number and s, m, h or d) before
// `now`.
bool parse_before(const std::map<std::string, std::string>& options, int64_t now,
                  std::optional<int64_t>* out, std::string* error) {
  auto it = options.find("--before");
  if (it == options.end()) {
    *error = "--before is required (a time, or an age such as 400d)";
    return false;
  }
  const std::string& text = it->second;
  static const std::map<char, int64_t> kUnitSeconds{{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
  size_t digits = text.find_first_not_of("0123456789");
  if (digits > 0 && digits != std::string::npos && digits + 1 == text.size() && digits <= 9 &&
      kUnitSeconds.contains(text.back())) {
    *out = now - std::stoll(text.substr(0, digits)) * kUnitSeconds.at(text.back()) * 1'000'000;
    return true;
  }
  if (parse_time_option(options, "--before", out, error)) return true;
  *error += ", nor an age (400d, 12h, 30m, 90s)";
  return false;
}

bool parse_filter(const std::map<std::string, std::string>& options, ExportFilter* filter,
                  std::string* error) {
  static const std::set<std::string> kDecisions = {
      "allow",     "deny",    "log",        "approved",   "rejected",
      "expired",   "withdrawn", "would_deny", "would_hold", "hold"};
  auto get = [&](const char* name) {
    auto it = options.find(name);
    return it == options.end() ? std::string() : it->second;
  };
  filter->principal_glob = get("--principal");
  filter->job_id = get("--job");
  filter->decision = get("--decision");
  if (!filter->decision.empty() && !kDecisions.contains(filter->decision)) {
    *error = fmt::format("--decision \"{}\" is not one of allow, deny, log, approved, rejected, "
                         "expired, withdrawn, would_deny, would_hold, hold",
                         filter->decision);
    return false;
  }
  return parse_time_option(options, "--since", &filter->since_us, error) &&
         parse_time_option(options, "--until", &filter->until_us, error);
}

// A store file that does not exist is bad input, not an empty store.
bool check_store_exists(const StoreLocation& store, std::string* error) {
  if (store.backend == Backend::postgresql || std::ifstream(store.path).good()) return true;
  *error = fmt::format("audit store {}: {}", store.path, std::strerror(errno));
  return false;
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Waits up to `wait` for SIGINT or SIGTERM (blocked, so that they wait here); whether one came.
bool stop_signalled(const sigset_t& stop, std::chrono::milliseconds wait) {
  timespec ts{static_cast<time_t>(wait.count() / 1000),
              static_cast<long>(wait.count() % 1000) * 1'000'000};
  return sigtimedwait(&stop, nullptr, &ts) > 0;
}

// How often a follow looks for new records, and how long it waits before reading a store again
// that it could not read.
constexpr std::chrono::milliseconds kFollowPoll{200}, kFollowRetry{2000}, kNoWait{0};

// `audit export --follow`: polls the store until SIGINT or SIGTERM, or until the reader goes
// away (a write fails with EPIPE: SIGPIPE is ignored), all of which end it with 0.
int run_follow(AuditFollower& follower, const StoreLocation& store, std::ostream& out) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::string error;
  if (store.backend == Backend::sqlite && !check_store_exists(store, &error)) {
    fmt::print(stderr, "pgwarden audit export: {}; waiting for pgwarden to create it\n", error);
  }
  for (;;) {
    error.clear();
    AuditFollower::Poll poll = follower.poll(now_us(), out, &error);
    errno = 0;
    out.flush();
    if (!out) {
      if (errno == EPIPE) return kOk;
      fmt::print(stderr, "pgwarden audit export: cannot write the export: {}\n",
                 std::strerror(errno));
      return kUsage;
    }
    if (poll == AuditFollower::Poll::failed) {
      fmt::print(stderr, "pgwarden audit export: {}\n", error);
      return kUsage;
    }
    if (poll == AuditFollower::Poll::retry) {
      fmt::print(stderr, "pgwarden audit export: {}; reading it again in {} s\n", error,
                 kFollowRetry.count() / 1000);
    }
    std::chrono::milliseconds wait = poll == AuditFollower::Poll::more    ? kNoWait
                                     : poll == AuditFollower::Poll::retry ? kFollowRetry
                                                                          : kFollowPoll;
    if (stop_signalled(stop, wait)) return kOk;
  }
}

// Checks the options that go with --follow (or not) and reads --after-seq into `after`.
bool parse_follow(bool follow, const std::map<std::string, std::string>& options,
                  const ExportFilter& filter, FollowPositions* after, std::string* error) {
  if (follow && filter.until_us) {
    *error = "--until cannot be used with --follow: a follow has no end, it writes each record "
             "as it is committed (export a time range without --follow)";
    return false;
  }
  auto it = options.find("--after-seq");
  if (it == options.end()) return true;
  if (!follow) {
    *error = "--after-seq is where --follow starts: give --follow too";
    return false;
  }
  std::optional<FollowPositions> parsed = parse_after_seq(it->second, error);
  if (parsed) *after = std::move(*parsed);
  return parsed.has_value();
}

int run_export(int argc, char** argv, const ConfiguredStore* configured) {
  std::vector<char*> args;
  bool follow = take_flag(argc, argv, "--follow", &args);
  std::map<std::string, std::string> options;
  std::string error;
  ExportFilter filter;
  StoreLocation store;
  if (!parse_options(static_cast<int>(args.size()), args.data(),
                     {"--format", "--since", "--until", "--principal", "--job", "--decision", "-o",
                      "--after-seq"},
                     configured, &options, &store, &error) ||
      !parse_filter(options, &filter, &error)) {
    return usage_error(error);
  }
  std::string format_name = options.contains("--format") ? options["--format"] : "csv";
  if (format_name != "csv" && format_name != "jsonl") {
    return usage_error(fmt::format("--format \"{}\" is neither csv nor jsonl", format_name));
  }
  FollowPositions after;
  if (!parse_follow(follow, options, filter, &after, &error)) return usage_error(error);
  if (!follow && !check_store_exists(store, &error)) return usage_error(error);
  std::ofstream file;
  if (options.contains("-o")) {
    file.open(options["-o"], std::ios::binary | std::ios::trunc);
    if (!file) return usage_error(fmt::format("-o {}: {}", options["-o"], std::strerror(errno)));
  }
  std::ostream& out = file.is_open() ? file : std::cout;
  ExportFormat format = format_name == "csv" ? ExportFormat::csv : ExportFormat::jsonl;
  if (follow) {
    AuditFollower follower(store, filter, format, std::move(after));
    return run_follow(follower, store, out);
  }
  if (!export_audit(store, filter, format, out, &error)) {
    fmt::print(stderr, "pgwarden audit export: {}\n", error);
    return kUsage;
  }
  return kOk;
}

// The chain's key: --key-file's, or the configuration's audit.hmac_key_file; empty if neither.
bool read_chain_key(std::map<std::string, std::string>& options,
                    const ConfiguredStore* configured, std::string* key, std::string* error) {
  if (configured && !configured->key_file.empty() && !options.contains("--key-file")) {
    options["--key-file"] = configured->key_file;
  }
  if (!options.contains("--key-file") || read_key_file(options["--key-file"], key, error)) {
    return true;
  }
  *error = "--key-file " + *error;
  return false;
}

// What verify says of a chain that was pruned.
std::string anchor_report(const Anchor& a) {
  return fmt::format("{}{}{}; chain verified from seq {}",
                     a.instance.empty() ? "" : "instance " + a.instance + ": ", describe_anchor(a),
                     a.number == 1 ? std::string()
                     : a.number == 2
                         ? fmt::format(" (records 1-{} by anchor 1)", a.first_seq - 1)
                         : fmt::format(" (records 1-{} by anchors 1-{})", a.first_seq - 1,
                                       a.number - 1),
                     a.last_seq + 1);
}

int run_verify(int argc, char** argv, const ConfiguredStore* configured) {
  std::map<std::string, std::string> options;
  std::string error, key;
  StoreLocation store;
  if (!parse_options(argc, argv, {"--key-file"}, configured, &options, &store, &error)) {
    return usage_error(error);
  }
  if (!check_store_exists(store, &error)) return usage_error(error);
  if (!read_chain_key(options, configured, &key, &error)) {
    fmt::print(stderr, "pgwarden audit verify: {}\n", error);
    return kUsage;
  }
  VerifyResult result = verify_audit(store, key, &error);
  if (!error.empty()) {
    fmt::print(stderr, "pgwarden audit verify: {}\n", error);
    return kUsage;
  }
  if (!result.ok) {
    std::string where = result.instance.empty()
                            ? fmt::format("seq {}", result.bad_seq)
                            : fmt::format("instance {}, seq {}", result.instance, result.bad_seq);
    fmt::print(stderr, "{}: chain broken at {}: {} ({} rows verified before it)\n",
               store.describe(), where, result.reason, result.rows_checked);
    return kBroken;
  }
  for (const Anchor& a : result.anchors) fmt::print("{}\n", anchor_report(a));
  fmt::print("{}: chain intact, {} rows verified\n", store.describe(), result.rows_checked);
  return kOk;
}

int run_prune(int argc, char** argv, const ConfiguredStore* configured) {
  std::map<std::string, std::string> options;
  std::string error;
  StoreLocation store;
  PruneRequest request{.now_us = now_us()};
  std::optional<int64_t> before;
  if (!parse_options(argc, argv, {"--before", "--key-file"}, configured, &options, &store,
                     &error) ||
      !parse_before(options, request.now_us, &before, &error)) {
    return usage_error(error);
  }
  request.before_us = *before;
  if (!check_store_exists(store, &error)) return usage_error(error);
  if (!read_chain_key(options, configured, &request.hmac_key, &error)) {
    fmt::print(stderr, "pgwarden audit prune: {}\n", error);
    return kUsage;
  }
  PruneResult result;
  if (!prune_audit(store, request, &result, &error)) {
    fmt::print(stderr, "pgwarden audit prune: {}\n", error);
    return result.chain_broken ? kBroken : kUsage;
  }
  for (const Anchor& a : result.anchors) {
    fmt::print("{}{}\n", a.instance.empty() ? "" : "instance " + a.instance + ": ",
               describe_anchor(a));
  }
  for (const std::string& note : result.notes) fmt::print("{}\n", note);
  return kOk;
}

void print_approvals(const std::vector<ApprovalRow>& rows) {
  constexpr std::array<std::string_view, 9> kHeader{"id",        "state",        "principal",
                                                    "job_id",    "rule",         "statement",
                                                    "requested_at", "expires_at", "approvers"};
  auto write_row = [](const auto& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) std::cout << ',';
      write_csv_field(std::cout, cells[i]);
    }
    std::cout << "\r\n";
  };
  write_row(kHeader);
  for (const ApprovalRow& a : rows) {
    write_row(std::array<std::string, 9>{std::to_string(a.id), a.state, a.principal, a.job_id,
                                         a.rule, a.statement, format_ts(a.requested_us),
                                         format_ts(a.expires_us), a.approvers});
  }
  std::cout.flush();
}

int run_approvals_list(int argc, char** argv, const ConfiguredStore* configured) {
  std::vector<char*> args;
  bool pending = take_flag(argc, argv, "--pending", &args);
  std::map<std::string, std::string> options;
  std::string error;
  StoreLocation store;
  if (!parse_options(static_cast<int>(args.size()), args.data(), {}, configured, &options, &store,
                     &error)) {
    return usage_error(error);
  }
  if (!check_store_exists(store, &error)) return usage_error(error);
  std::vector<ApprovalRow> rows;
  if (!list_approvals(store, pending, now_us(), &rows, &error)) {
    fmt::print(stderr, "pgwarden approvals list: {}\n", error);
    return kUsage;
  }
  print_approvals(rows);
  return kOk;
}

}  // namespace

int approvals_command(int argc, char** argv, const ConfiguredStore* configured) {
  std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "list") return run_approvals_list(argc, argv, configured);
  return usage_error(sub.empty() ? "missing subcommand (list)"
                                 : fmt::format("unknown subcommand \"{}\"", sub));
}

int audit_command(int argc, char** argv, const ConfiguredStore* configured) {
  std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "export") return run_export(argc, argv, configured);
  if (sub == "verify") return run_verify(argc, argv, configured);
  if (sub == "prune") return run_prune(argc, argv, configured);
  return usage_error(sub.empty() ? "missing subcommand (export, verify or prune)"
                                 : fmt::format("unknown subcommand \"{}\"", sub));
}

}  // namespace pgw::store
