// pgwarden.yaml (SPEC section 4): the proxy's listener, TLS, upstream credentials, identities,
// audit and rules settings. Loading is strict: an unknown key, a wrong type or a missing file is
// an error naming file:line:col and the field. Secrets are read here and never logged.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/identity/oidc.h"
#include "proxy/identity/scram.h"
#include "rules/rules.h"
#include "yaml-cpp/yaml.h"

namespace pgw {

enum class TlsMode { disable, prefer, require, verify_full };

// A credential pgwarden holds for connecting upstream as `name`.
struct UpstreamRole {
  std::string name;
  std::string password;
};

// A password principal: the client connects as `user` and proves the password by SCRAM.
struct StaticIdentity {
  std::string principal;
  std::string user;
  ScramVerifier verifier;
  std::string upstream_role;
};

// approvals.notify: where held and settled approvals are told (SPEC section 12).
enum class NotifyFormat { json, slack };
struct NotifyTarget {
  std::string url;  // http:// or https://
  NotifyFormat format = NotifyFormat::json;
  std::string secret;  // read from secret_env: the body's HMAC-SHA256 key; empty for no signature
};

struct Config {
  std::string file;  // path of the file it was loaded from
  std::string listen_host = "127.0.0.1";
  int listen_port = 6432;
  int workers = 1;
  std::vector<rules::Glob> admin_users;  // principals allowed on the admin console, compiled at load

  TlsMode client_tls = TlsMode::disable;
  std::string cert_file;
  std::string key_file;

  std::string upstream_host = "127.0.0.1";
  int upstream_port = 5432;
  TlsMode upstream_tls = TlsMode::prefer;
  std::string upstream_ca_file;
  std::vector<UpstreamRole> roles;

  std::vector<StaticIdentity> static_identities;
  std::vector<OidcIdentity> oidc_identities;

  std::string audit_path;
  bool audit_fsync = false;
  std::string audit_hmac_key_file;
  bool audit_normalized_text = false;
  // audit.instance: this instance's name in the audit (SPEC section 11); the host name by default.
  std::string audit_instance;
  // audit.backend ("sqlite" or "postgresql") and, for PostgreSQL, the connection string read from
  // audit.postgresql.dsn_env or dsn_file, and the schema (SPEC section 11).
  std::string audit_backend = "sqlite";
  std::string audit_pg_dsn;
  std::string audit_pg_schema = "pgwarden";
  // audit.retention (SPEC section 13): records older than this are pruned daily; 0 keeps them all.
  std::chrono::milliseconds audit_retention{0};

  std::chrono::milliseconds approval_timeout{600'000};
  std::vector<NotifyTarget> approval_notify;

  // admin_http.listen (SPEC section 12): where /metrics, /healthz and /readyz are served; port 0
  // when admin_http is not configured (off).
  std::string admin_http_host;
  int admin_http_port = 0;

  // Exactly one of these is set: a rules file, or the inline `rules:` node.
  std::string rules_file;
  YAML::Node rules_inline;

  size_t max_client_message = 64u << 20;
  size_t max_server_message = 1u << 30;
  std::chrono::milliseconds auth_timeout{30000};
  std::chrono::milliseconds shutdown_grace{30000};

  const UpstreamRole* role(const std::string& name) const;
  const StaticIdentity* static_identity(const std::string& user) const;
  const OidcIdentity* oidc_identity(const std::string& user) const;
};

// What a configuration is loaded for. `serve` (and `check`) read every file and environment
// variable it names. `rules` is for the rules tools (`test`, `explain`), which run where the
// rules are reviewed, without the deployment's secrets: the whole file is still validated, but
// secrets (password_env, password_file) and JWKS files are not read, so the loaded Config holds
// no credentials, verifiers made from passwords, or keys. `audit` is for the audit tools given
// `-c` (`audit`, `approvals`): as `rules`, but the audit store's DSN is read.
enum class ConfigUse { serve, rules, audit };

// Loads and validates `path`. On failure returns false with one message per error found, each
// "FILE:LINE:COL: FIELD: what is wrong".
bool load_config(const std::string& path, Config* config, std::vector<std::string>* errors,
                 ConfigUse use = ConfigUse::serve);

// Loads the rules the configuration names (rules_file or inline rules:); nullptr with the
// errors, each "FILE:LINE:COL: FIELD: what is wrong", when they are invalid.
rules::RuleSetPtr load_configured_rules(const Config& config, std::vector<std::string>* errors);
// Reads audit.hmac_key_file (empty key when none is configured); false with `error` if unreadable.
bool load_hmac_key(const Config& config, std::string* key, std::string* error);

}  // namespace pgw
