// What pgwarden's commands share on the command line: `--name value` options, loading the
// configuration with its rules, and the audit store a configuration names.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "proxy/config/config.h"
#include "rules/rules.h"
#include "store/cli.h"

namespace pgw {

// Options of the form `--name value` (and `-c value`), and the remaining positional words.
struct Args {
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::string> words;
  std::string error;

  const std::string* get(const std::string& name) const;
};

// Reads argv[from..]; `--config` is taken as `-c`. `error` names an option without a value.
Args parse_args(int argc, char** argv, int from);

// Loads the configuration and its rules, printing every error; false if any.
bool load_all(const std::string& path, Config* cfg, rules::RuleSetPtr* rules,
              ConfigUse use = ConfigUse::serve);

// The audit store a loaded configuration names.
store::ConfiguredStore configured_store(const Config& cfg);
// The same from the configuration file, for the commands that read the audit given `-c`; false
// after printing the configuration's errors.
bool configured_store(const std::string& path, store::ConfiguredStore* out);

}  // namespace pgw
