#include "store/cli.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "store/audit.h"
#include "store/key_file.h"

namespace pgw::store {
namespace {

constexpr int kOk = 0, kBroken = 1, kUsage = 2;

constexpr const char* kUsageText =
    "usage: pgwarden audit export --store audit.db [--format csv|jsonl] [--since T] [--until T]\n"
    "                             [--principal GLOB] [--job ID] [--decision D] [-o FILE]\n"
    "       pgwarden audit verify --store audit.db [--key-file K]\n"
    "T is RFC 3339 (2026-11-23T09:34:51Z) or a date (2026-11-23, midnight UTC); --since is\n"
    "inclusive, --until exclusive. GLOB matches principals, `*` standing for any characters.\n";

int usage_error(const std::string& message) {
  fmt::print(stderr, "pgwarden audit: {}\n{}", message, kUsageText);
  return kUsage;
}

// Parses `--name value` and `--name=value` pairs into `options`, allowing only `known` names.
bool parse_options(int argc, char** argv, const std::set<std::string>& known,
                   std::map<std::string, std::string>* options, std::string* error) {
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
  if (!options->contains("--store")) {
    *error = "--store is required";
    return false;
  }
  return true;
}

bool parse_time_option(const std::map<std::string, std::string>& options, const char* name,
                       std::optional<int64_t>* out, std::string* error) {
  auto it = options.find(name);
  if (it == options.end()) return true;
  *out = parse_ts(it->second);
  if (!*out) {
    *error = fmt::format("{} \"{}\" is neither an RFC 3339 time (2026-11-23T09:34:51Z) nor a "
                         "date (2026-11-23)",
                         name, it->second);
  }
  return out->has_value();
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

// A store path that does not exist is bad input, not an empty store.
bool check_store_exists(const std::string& path, std::string* error) {
  if (std::ifstream(path).good()) return true;
  *error = fmt::format("--store {}: {}", path, std::strerror(errno));
  return false;
}

int run_export(int argc, char** argv) {
  std::map<std::string, std::string> options;
  std::string error;
  ExportFilter filter;
  if (!parse_options(argc, argv,
                     {"--store", "--format", "--since", "--until", "--principal", "--job",
                      "--decision", "-o"},
                     &options, &error) ||
      !parse_filter(options, &filter, &error)) {
    return usage_error(error);
  }
  std::string format_name = options.contains("--format") ? options["--format"] : "csv";
  if (format_name != "csv" && format_name != "jsonl") {
    return usage_error(fmt::format("--format \"{}\" is neither csv nor jsonl", format_name));
  }
  const std::string& store = options["--store"];
  if (!check_store_exists(store, &error)) return usage_error(error);
  std::ofstream file;
  if (options.contains("-o")) {
    file.open(options["-o"], std::ios::binary | std::ios::trunc);
    if (!file) return usage_error(fmt::format("-o {}: {}", options["-o"], std::strerror(errno)));
  }
  std::ostream& out = file.is_open() ? file : std::cout;
  ExportFormat format = format_name == "csv" ? ExportFormat::csv : ExportFormat::jsonl;
  if (!export_audit(store, filter, format, out, &error)) {
    fmt::print(stderr, "pgwarden audit export: {}\n", error);
    return kUsage;
  }
  return kOk;
}

int run_verify(int argc, char** argv) {
  std::map<std::string, std::string> options;
  std::string error, key;
  if (!parse_options(argc, argv, {"--store", "--key-file"}, &options, &error)) {
    return usage_error(error);
  }
  const std::string& store = options["--store"];
  if (!check_store_exists(store, &error)) return usage_error(error);
  if (options.contains("--key-file") && !read_key_file(options["--key-file"], &key, &error)) {
    fmt::print(stderr, "pgwarden audit verify: --key-file {}\n", error);
    return kUsage;
  }
  VerifyResult result = verify_audit(store, key, &error);
  if (!error.empty()) {
    fmt::print(stderr, "pgwarden audit verify: {}\n", error);
    return kUsage;
  }
  if (!result.ok) {
    fmt::print(stderr, "{}: chain broken at seq {}: {} ({} rows verified before it)\n", store,
               result.bad_seq, result.reason, result.rows_checked);
    return kBroken;
  }
  fmt::print("{}: chain intact, {} rows verified\n", store, result.rows_checked);
  return kOk;
}

}  // namespace

int audit_command(int argc, char** argv) {
  std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "export") return run_export(argc, argv);
  if (sub == "verify") return run_verify(argc, argv);
  return usage_error(sub.empty() ? "missing subcommand (export or verify)"
                                 : fmt::format("unknown subcommand \"{}\"", sub));
}

}  // namespace pgw::store
