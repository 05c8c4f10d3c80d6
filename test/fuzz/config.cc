// Fuzzes the YAML loaders: each input is written to a file and loaded both as pgwarden.yaml
// (load_config, as the rules tools load it: no secret or key file is read) and as a rules file
// (load_rules_file). A configuration with inline rules has them loaded too; a rule set that
// loads is listed, has its `tests:` run, and its masks selected for a session.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "proxy/config/config.h"
#include "rules/rules.h"

namespace {

// A file of this process's own, rewritten for each input.
const std::string& input_file() {
  static const std::string path = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/pgwarden-fuzz-config-XXXXXX";
    if (!mkdtemp(dir.data())) __builtin_trap();
    return dir + "/pgwarden.yaml";
  }();
  return path;
}

void use(const pgw::rules::RuleSet& rules) {
  pgw::rules::summarize(rules);
  int total = 0;
  pgw::rules::run_tests(rules, &total);
  pgw::rules::masks_for(rules, pgw::rules::Context{"ci/build", "4711", "app", "10.0.0.7"});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = input_file();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  std::fwrite(data, 1, size, f);
  std::fclose(f);

  pgw::Config config;
  std::vector<std::string> errors;
  if (pgw::load_config(path, &config, &errors, pgw::ConfigUse::rules) && config.rules_file.empty()) {
    if (auto rules = pgw::load_configured_rules(config, &errors)) use(*rules);
  }
  std::vector<pgw::rules::LoadError> load_errors;
  if (auto rules = pgw::rules::load_rules_file(path, &load_errors)) use(*rules);
  return 0;
}
