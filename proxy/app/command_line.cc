// The command line's shared pieces: option parsing, configuration loading, the configured store.
#include "proxy/app/command_line.h"

#include <cstdio>

namespace pgw {

const std::string* Args::get(const std::string& name) const {
  for (const auto& [k, v] : options)
    if (k == name) return &v;
  return nullptr;
}

Args parse_args(int argc, char** argv, int from) {
  Args a;
  for (int i = from; i < argc; ++i) {
    std::string w = argv[i];
    if (w.size() > 1 && w[0] == '-') {
      if (i + 1 >= argc) {
        a.error = w + " needs a value";
        return a;
      }
      a.options.emplace_back(w == "--config" ? "-c" : w, argv[++i]);
    } else {
      a.words.push_back(w);
    }
  }
  return a;
}

bool load_all(const std::string& path, Config* cfg, rules::RuleSetPtr* rules, ConfigUse use) {
  std::vector<std::string> errors;
  if (load_config(path, cfg, &errors, use)) *rules = load_configured_rules(*cfg, &errors);
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  return errors.empty() && *rules;
}

store::ConfiguredStore configured_store(const Config& cfg) {
  store::ConfiguredStore out;
  out.location = cfg.audit_backend == "postgresql"
                     ? store::StoreLocation{.backend = store::Backend::postgresql,
                                            .dsn = cfg.audit_pg_dsn,
                                            .schema = cfg.audit_pg_schema}
                     : store::StoreLocation{.path = cfg.audit_path};
  out.key_file = cfg.audit_hmac_key_file;
  return out;
}

bool configured_store(const std::string& path, store::ConfiguredStore* out) {
  Config cfg;
  std::vector<std::string> errors;
  bool ok = load_config(path, &cfg, &errors, ConfigUse::audit);
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (ok) *out = configured_store(cfg);
  return ok;
}

}  // namespace pgw
