#include "proxy/config/config.h"

#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <unistd.h>

#include "proxy/wire/decimal.h"
#include "proxy/identity/jwt.h"
#include "proxy/identity/scram.h"
#include "rules/duration.h"

namespace pgw {

namespace {

// Collects errors with the position of the node at fault.
struct Checker {
  std::string file;
  std::vector<std::string>* errors;
  ConfigUse use = ConfigUse::serve;

  void fail(const YAML::Node& node, const std::string& field, const std::string& what) {
    YAML::Mark m = node.Mark();
    errors->push_back(file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) +
                      ": " + field + ": " + what);
  }

  // Reports keys of `map` not in `allowed`; false if `map` is not a mapping.
  bool keys(const YAML::Node& map, const std::string& field, std::set<std::string> allowed) {
    if (!map.IsMap()) {
      fail(map, field, "expected a mapping");
      return false;
    }
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      if (!allowed.count(key)) fail(kv.first, field.empty() ? key : field + "." + key, "unknown key");
    }
    return true;
  }

  bool str(const YAML::Node& map, const char* key, const std::string& field, std::string* out) {
    YAML::Node n = map[key];
    if (!n) return false;
    if (!n.IsScalar()) {
      fail(n, field + key, "expected a string");
      return false;
    }
    *out = n.Scalar();
    return true;
  }

  void integer(const YAML::Node& map, const char* key, const std::string& field, int lo, int hi, int* out) {
    YAML::Node n = map[key];
    if (!n) return;
    try {
      int v = n.as<int>();
      if (v < lo || v > hi) throw YAML::Exception(n.Mark(), "range");
      *out = v;
    } catch (const YAML::Exception&) {
      fail(n, field + key, "expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
  }

  void tls_mode(const YAML::Node& map, const char* key, const std::string& field, bool allow_verify, TlsMode* out) {
    std::string s;
    if (!str(map, key, field, &s)) return;
    if (s == "disable") *out = TlsMode::disable;
    else if (s == "prefer") *out = TlsMode::prefer;
    else if (s == "require") *out = TlsMode::require;
    else if (s == "verify-full" && allow_verify) *out = TlsMode::verify_full;
    else fail(map[key], field + key, "\"" + s + "\" is not one of disable, prefer, require" +
                                         std::string(allow_verify ? ", verify-full" : ""));
  }

  // Durations in the syntax of rules::parse_duration (30s, 15m, 2h, 1d, 500ms, 1h30m, or a bare
  // number of seconds).
  template <typename D>
  void duration(const YAML::Node& map, const char* key, const std::string& field, D* out) {
    std::string s;
    if (!str(map, key, field, &s)) return;
    std::optional<std::chrono::milliseconds> ms = rules::parse_duration(s);
    if (!ms) {
      fail(map[key], field + key, "\"" + s + "\" is not a duration (like 30s, 15m, 2h)");
      return;
    }
    *out = std::chrono::duration_cast<D>(*ms);
  }

  // Sizes: 64MiB, 1GiB, 512KiB, or a bare number of bytes.
  void size(const YAML::Node& map, const char* key, const std::string& field, size_t* out) {
    std::string s;
    if (!str(map, key, field, &s)) return;
    size_t i = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    std::string unit = s.substr(i);
    static const std::map<std::string, size_t> mult = {{"", 1}, {"B", 1}, {"KiB", 1u << 10}, {"MiB", 1u << 20}, {"GiB", 1u << 30}};
    size_t count = 0;
    if (!mult.count(unit) || !parse_decimal(std::string_view(s).substr(0, i), &count) ||
        count > (1ull << 30) / mult.at(unit)) {
      fail(map[key], field + key, "\"" + s + "\" is not a size up to 1GiB (like 64MiB)");
      return;
    }
    *out = count * mult.at(unit);
  }

  std::vector<std::string> strings(const YAML::Node& map, const char* key, const std::string& field) {
    std::vector<std::string> out;
    YAML::Node n = map[key];
    if (!n) return out;
    if (!n.IsSequence()) {
      fail(n, field + key, "expected a list of strings");
      return out;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) fail(n[i], field + key + "[" + std::to_string(i) + "]", "expected a string");
      else out.push_back(n[i].Scalar());
    }
    return out;
  }
};

std::string resolve_path(const std::string& config_file, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  size_t slash = config_file.rfind('/');
  return slash == std::string::npos ? p : config_file.substr(0, slash + 1) + p;
}

bool read_secret_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  while (!out->empty() && (out->back() == '\n' || out->back() == '\r')) out->pop_back();
  return true;
}

// A secret from `<kind>_env` or `<kind>_file`, exactly one of them; read to serve or for `reader`,
// else only whether one is given.
bool secret(Checker& c, const YAML::Node& map, const std::string& field, const std::string& config_file,
            std::string* out, const std::string& kind = "password", ConfigUse reader = ConfigUse::serve) {
  const std::string env_key = kind + "_env", file_key = kind + "_file";
  std::string env, file;
  bool has_env = c.str(map, env_key.c_str(), field, &env);
  bool has_file = c.str(map, file_key.c_str(), field, &file);
  if (has_env == has_file) return false;
  if (c.use != ConfigUse::serve && c.use != reader) return true;
  if (has_env) {
    const char* v = std::getenv(env.c_str());
    if (!v) {
      c.fail(map[env_key], field + env_key, "environment variable " + env + " is not set");
      return true;
    }
    *out = v;
  } else if (!read_secret_file(resolve_path(config_file, file), out)) {
    c.fail(map[file_key], field + file_key, "cannot read " + file);
  }
  return true;
}

// A HOST:PORT value (an IPv6 host in brackets); false after reporting what is wrong.
bool host_port(Checker& c, const YAML::Node& map, const char* key, const std::string& field, std::string* host,
               int* port) {
  std::string text;
  if (!c.str(map, key, field, &text)) return false;
  size_t colon = text.rfind(':');
  int p = 0;
  if (colon == std::string::npos || !parse_decimal(std::string_view(text).substr(colon + 1), &p) || p < 1 ||
      p > 65535) {
    c.fail(map[key], field + key, "expected HOST:PORT, got \"" + text + "\"");
    return false;
  }
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[') *host = host->substr(1, host->size() - 2);
  *port = p;
  return true;
}

void load_listen(Checker& c, const YAML::Node& root, Config* cfg) {
  host_port(c, root, "listen", "", &cfg->listen_host, &cfg->listen_port);
}

void load_admin_http(Checker& c, const YAML::Node& n, Config* cfg) {
  if (!n || !c.keys(n, "admin_http", {"listen"})) return;
  if (!n["listen"]) c.fail(n, "admin_http.listen", "missing: give HOST:PORT to serve /metrics, /healthz and /readyz on");
  else host_port(c, n, "listen", "admin_http.", &cfg->admin_http_host, &cfg->admin_http_port);
}

void load_tls(Checker& c, const YAML::Node& n, Config* cfg) {
  if (!n || !c.keys(n, "tls", {"mode", "cert_file", "key_file"})) return;
  c.tls_mode(n, "mode", "tls.", false, &cfg->client_tls);
  if (c.str(n, "cert_file", "tls.", &cfg->cert_file)) cfg->cert_file = resolve_path(cfg->file, cfg->cert_file);
  if (c.str(n, "key_file", "tls.", &cfg->key_file)) cfg->key_file = resolve_path(cfg->file, cfg->key_file);
  if (cfg->client_tls != TlsMode::disable && (cfg->cert_file.empty() || cfg->key_file.empty()))
    c.fail(n, "tls", "mode " + n["mode"].as<std::string>("prefer") + " needs cert_file and key_file");
}

void load_upstream(Checker& c, const YAML::Node& n, Config* cfg) {
  if (!n) {
    c.errors->push_back(cfg->file + ":1:1: upstream: missing");
    return;
  }
  if (!c.keys(n, "upstream", {"host", "port", "tls", "ca_file", "roles"})) return;
  c.str(n, "host", "upstream.", &cfg->upstream_host);
  c.integer(n, "port", "upstream.", 1, 65535, &cfg->upstream_port);
  c.tls_mode(n, "tls", "upstream.", true, &cfg->upstream_tls);
  if (c.str(n, "ca_file", "upstream.", &cfg->upstream_ca_file))
    cfg->upstream_ca_file = resolve_path(cfg->file, cfg->upstream_ca_file);
  if (cfg->upstream_tls == TlsMode::verify_full && cfg->upstream_ca_file.empty())
    c.fail(n["tls"], "upstream.tls", "verify-full needs upstream.ca_file");
  YAML::Node roles = n["roles"];
  if (!roles || !roles.IsSequence()) {
    c.fail(roles ? roles : n, "upstream.roles", "expected a list of roles");
    return;
  }
  for (size_t i = 0; i < roles.size(); ++i) {
    std::string f = "upstream.roles[" + std::to_string(i) + "].";
    if (!c.keys(roles[i], f.substr(0, f.size() - 1), {"name", "password_env", "password_file"})) continue;
    UpstreamRole r;
    if (!c.str(roles[i], "name", f, &r.name)) c.fail(roles[i], f + "name", "missing");
    if (!secret(c, roles[i], f, cfg->file, &r.password))
      c.fail(roles[i], f + "password_env", "give exactly one of password_env and password_file");
    if (cfg->role(r.name)) c.fail(roles[i]["name"], f + "name", "duplicate role \"" + r.name + "\"");
    cfg->roles.push_back(std::move(r));
  }
}

void load_static(Checker& c, const YAML::Node& list, Config* cfg) {
  if (!list) return;
  if (!list.IsSequence()) {
    c.fail(list, "identities.static", "expected a list");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& n = list[i];
    std::string f = "identities.static[" + std::to_string(i) + "].";
    if (!c.keys(n, f.substr(0, f.size() - 1),
                {"principal", "user", "scram_verifier", "password_env", "password_file", "upstream_role"}))
      continue;
    StaticIdentity id;
    if (!c.str(n, "principal", f, &id.principal)) c.fail(n, f + "principal", "missing");
    if (!c.str(n, "user", f, &id.user)) c.fail(n, f + "user", "missing");
    if (!c.str(n, "upstream_role", f, &id.upstream_role)) c.fail(n, f + "upstream_role", "missing");
    else if (!cfg->role(id.upstream_role))
      c.fail(n["upstream_role"], f + "upstream_role", "no upstream.roles entry named \"" + id.upstream_role + "\"");
    std::string verifier, password;
    bool has_verifier = c.str(n, "scram_verifier", f, &verifier);
    bool has_secret = secret(c, n, f, cfg->file, &password);
    if (has_verifier == has_secret) {
      c.fail(n, f + "scram_verifier", "give exactly one of scram_verifier, password_env and password_file");
    } else if (has_verifier && !parse_scram_verifier(verifier, &id.verifier)) {
      c.fail(n["scram_verifier"], f + "scram_verifier",
             "not a SCRAM-SHA-256 verifier (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)");
    } else if (has_secret && c.use == ConfigUse::serve) {
      id.verifier = make_scram_verifier(password);
    }
    if (cfg->static_identity(id.user)) c.fail(n["user"], f + "user", "duplicate user \"" + id.user + "\"");
    cfg->static_identities.push_back(std::move(id));
  }
}

// The templates' shape, the clock leeway, the plain-TCP addresses and the JWKS file's keys.
void load_oidc_extras(Checker& c, const YAML::Node& n, const std::string& f, OidcIdentity* id) {
  std::string error;
  for (auto [key, tmpl] : {std::pair{"principal", &id->principal_template}, {"job_id", &id->job_id_template},
                           {"commit", &id->commit_template}})
    if (!check_claims_template(*tmpl, &error)) c.fail(n[key], f + key, error);
  c.duration(n, "leeway", f, &id->leeway);
  if (id->leeway > std::chrono::minutes(5)) c.fail(n["leeway"], f + "leeway", "at most 5m: tokens live minutes");
  id->plain_tcp_from = loopback_ranges();
  if (n["plain_tcp_from"]) id->plain_tcp_from.clear();
  for (const std::string& text : c.strings(n, "plain_tcp_from", f)) {
    rules::Cidr r;
    if (rules::parse_cidr(text, &r, &error)) id->plain_tcp_from.push_back(r);
    else c.fail(n["plain_tcp_from"], f + "plain_tcp_from", error);
  }
  id->keys = std::make_shared<KeyRing>();
  id->keys->file = id->jwks_file;
  if (c.use == ConfigUse::serve && !id->jwks_file.empty() && !reload_key_ring(id->keys.get(), &error))
    c.fail(n["jwks_file"], f + "jwks_file", error);
}

void load_oidc(Checker& c, const YAML::Node& list, Config* cfg) {
  if (!list) return;
  if (!list.IsSequence()) {
    c.fail(list, "identities.oidc", "expected a list");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& n = list[i];
    std::string f = "identities.oidc[" + std::to_string(i) + "].";
    if (!c.keys(n, f.substr(0, f.size() - 1),
                {"issuer", "audience", "jwks_file", "user", "principal", "job_id", "commit", "upstream_role", "leeway",
                 "plain_tcp_from"}))
      continue;
    OidcIdentity id;
    for (auto [key, out] : {std::pair{"issuer", &id.issuer}, {"audience", &id.audience}, {"jwks_file", &id.jwks_file},
                            {"user", &id.user}, {"principal", &id.principal_template}, {"upstream_role", &id.upstream_role}})
      if (!c.str(n, key, f, out)) c.fail(n, f + key, "missing");
    c.str(n, "job_id", f, &id.job_id_template);
    c.str(n, "commit", f, &id.commit_template);
    id.jwks_file = resolve_path(cfg->file, id.jwks_file);
    if (!id.upstream_role.empty() && !cfg->role(id.upstream_role))
      c.fail(n["upstream_role"], f + "upstream_role", "no upstream.roles entry named \"" + id.upstream_role + "\"");
    if (cfg->static_identity(id.user)) c.fail(n["user"], f + "user", "user \"" + id.user + "\" is also a static identity");
    if (cfg->oidc_identity(id.user)) c.fail(n["user"], f + "user", "duplicate user \"" + id.user + "\"");
    load_oidc_extras(c, n, f, &id);
    cfg->oidc_identities.push_back(std::move(id));
  }
}

// audit.backend and audit.postgresql: the DSN from dsn_env or dsn_file (exactly one; read to
// serve and for the audit tools), trimmed, and the schema.
void load_audit_backend(Checker& c, const YAML::Node& n, Config* cfg) {
  if (c.str(n, "backend", "audit.", &cfg->audit_backend) && cfg->audit_backend != "sqlite" &&
      cfg->audit_backend != "postgresql")
    c.fail(n["backend"], "audit.backend", "\"" + cfg->audit_backend + "\" is not one of sqlite, postgresql");
  YAML::Node pg = n["postgresql"];
  if (cfg->audit_backend != "postgresql") {
    if (pg) c.fail(pg, "audit.postgresql", "needs audit.backend: postgresql");
    return;
  }
  if (!pg) {
    c.fail(n, "audit.postgresql", "missing: audit.backend postgresql needs dsn_env or dsn_file");
    return;
  }
  if (!c.keys(pg, "audit.postgresql", {"dsn_env", "dsn_file", "schema"})) return;
  if (c.str(pg, "schema", "audit.postgresql.", &cfg->audit_pg_schema) && cfg->audit_pg_schema.empty())
    c.fail(pg["schema"], "audit.postgresql.schema", "must not be empty");
  std::string& dsn = cfg->audit_pg_dsn;
  if (!secret(c, pg, "audit.postgresql.", cfg->file, &dsn, "dsn", ConfigUse::audit))
    c.fail(pg, "audit.postgresql.dsn_env", "give exactly one of dsn_env and dsn_file");
  dsn.erase(0, dsn.find_first_not_of(" \t\r\n"));
  dsn.erase(dsn.find_last_not_of(" \t\r\n") + 1);
}

void load_audit(Checker& c, const YAML::Node& n, Config* cfg) {
  if (!n || !c.keys(n, "audit", {"path", "durability", "hmac_key_file", "statement_text", "instance", "backend",
                                 "postgresql", "retention"}))
    return;
  load_audit_backend(c, n, cfg);
  if (c.str(n, "path", "audit.", &cfg->audit_path)) cfg->audit_path = resolve_path(cfg->file, cfg->audit_path);
  std::string s;
  if (c.str(n, "durability", "audit.", &s)) {
    if (s == "fsync") cfg->audit_fsync = true;
    else if (s != "commit") c.fail(n["durability"], "audit.durability", "\"" + s + "\" is not one of commit, fsync");
  }
  if (c.str(n, "hmac_key_file", "audit.", &cfg->audit_hmac_key_file))
    cfg->audit_hmac_key_file = resolve_path(cfg->file, cfg->audit_hmac_key_file);
  if (c.str(n, "statement_text", "audit.", &s)) {
    if (s == "normalized") cfg->audit_normalized_text = true;
    else if (s != "full") c.fail(n["statement_text"], "audit.statement_text", "\"" + s + "\" is not one of full, normalized");
  }
  if (c.str(n, "instance", "audit.", &cfg->audit_instance) && cfg->audit_instance.empty())
    c.fail(n["instance"], "audit.instance", "must not be empty");
  c.duration(n, "retention", "audit.", &cfg->audit_retention);
  if (n["retention"] && cfg->audit_retention.count() <= 0)
    c.fail(n["retention"], "audit.retention", "must be longer than 0 (or left out: keep everything)");
}

void load_notify_target(Checker& c, const YAML::Node& n, const std::string& f, Config* cfg) {
  NotifyTarget t;
  if (!c.str(n, "url", f, &t.url)) c.fail(n, f + "url", "missing");
  else if (!t.url.starts_with("http://") && !t.url.starts_with("https://"))
    c.fail(n["url"], f + "url", "\"" + t.url + "\" is not an http:// or https:// URL");
  std::string s;
  if (c.str(n, "format", f, &s)) {
    if (s == "slack") t.format = NotifyFormat::slack;
    else if (s != "json") c.fail(n["format"], f + "format", "\"" + s + "\" is not one of json, slack");
  }
  if (c.str(n, "secret_env", f, &s) && c.use == ConfigUse::serve) {
    const char* v = std::getenv(s.c_str());
    if (!v || !*v) c.fail(n["secret_env"], f + "secret_env", "environment variable " + s + " is not set");
    else t.secret = v;
  }
  cfg->approval_notify.push_back(std::move(t));
}

void load_approvals(Checker& c, const YAML::Node& n, Config* cfg) {
  if (!n || !c.keys(n, "approvals", {"default_timeout", "notify"})) return;
  c.duration(n, "default_timeout", "approvals.", &cfg->approval_timeout);
  YAML::Node list = n["notify"];
  if (!list) return;
  if (!list.IsSequence()) {
    c.fail(list, "approvals.notify", "expected a list");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    std::string f = "approvals.notify[" + std::to_string(i) + "].";
    if (c.keys(list[i], f.substr(0, f.size() - 1), {"url", "format", "secret_env"}))
      load_notify_target(c, list[i], f, cfg);
  }
}

// The host name, the default instance name.
std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "pgwarden";
  return name;
}

void load_limits(Checker& c, const YAML::Node& n, Config* cfg) {
  if (!n || !c.keys(n, "limits", {"client_message", "server_message", "auth_timeout", "shutdown_grace"})) return;
  c.size(n, "client_message", "limits.", &cfg->max_client_message);
  c.size(n, "server_message", "limits.", &cfg->max_server_message);
  c.duration(n, "auth_timeout", "limits.", &cfg->auth_timeout);
  c.duration(n, "shutdown_grace", "limits.", &cfg->shutdown_grace);
}

}  // namespace

const UpstreamRole* Config::role(const std::string& name) const {
  for (const auto& r : roles)
    if (r.name == name) return &r;
  return nullptr;
}

const StaticIdentity* Config::static_identity(const std::string& user) const {
  for (const auto& s : static_identities)
    if (s.user == user) return &s;
  return nullptr;
}

const OidcIdentity* Config::oidc_identity(const std::string& user) const {
  for (const auto& o : oidc_identities)
    if (o.user == user) return &o;
  return nullptr;
}

rules::RuleSetPtr load_configured_rules(const Config& config, std::vector<std::string>* errors) {
  std::vector<rules::LoadError> load_errors;
  rules::RuleSetPtr rules = config.rules_file.empty()
                                ? rules::load_rules_node(config.rules_inline, config.file, &load_errors)
                                : rules::load_rules_file(config.rules_file, &load_errors);
  for (const auto& e : load_errors) errors->push_back(e.to_string());
  return rules;
}

bool load_hmac_key(const Config& config, std::string* key, std::string* error) {
  key->clear();
  if (config.audit_hmac_key_file.empty()) return true;
  if (read_secret_file(config.audit_hmac_key_file, key) && !key->empty()) return true;
  *error = config.audit_hmac_key_file + ": cannot read the audit HMAC key (audit.hmac_key_file)";
  return false;
}

bool load_config(const std::string& path, Config* cfg, std::vector<std::string>* errors, ConfigUse use) {
  cfg->file = path;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    errors->push_back(path + ": cannot read the file");
    return false;
  } catch (const YAML::ParserException& e) {
    errors->push_back(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": YAML syntax error: " + e.msg);
    return false;
  }
  Checker c{path, errors, use};
  if (!c.keys(root, "", {"listen", "workers", "admin_users", "tls", "upstream", "identities", "audit",
                         "approvals", "rules_file", "rules", "limits", "admin_http"}))
    return false;
  load_listen(c, root, cfg);
  c.integer(root, "workers", "", 1, 64, &cfg->workers);
  for (const std::string& text : c.strings(root, "admin_users", "")) {
    rules::Glob g;
    std::string error;
    if (rules::compile_glob(text, rules::Folding::exact, &g, &error)) cfg->admin_users.push_back(std::move(g));
    else c.fail(root["admin_users"], "admin_users", error);
  }
  load_tls(c, root["tls"], cfg);
  load_upstream(c, root["upstream"], cfg);
  if (YAML::Node ids = root["identities"]; ids && c.keys(ids, "identities", {"static", "oidc"})) {
    load_static(c, ids["static"], cfg);
    load_oidc(c, ids["oidc"], cfg);
  }
  load_audit(c, root["audit"], cfg);
  load_approvals(c, root["approvals"], cfg);
  if (c.str(root, "rules_file", "", &cfg->rules_file)) cfg->rules_file = resolve_path(path, cfg->rules_file);
  cfg->rules_inline = root["rules"];
  if (!cfg->rules_file.empty() && cfg->rules_inline)
    c.fail(root["rules"], "rules", "give either rules_file or rules, not both");
  if (cfg->rules_file.empty() && !cfg->rules_inline)
    c.fail(root, "rules_file", "missing: give rules_file or an inline rules: section");
  if (cfg->audit_path.empty()) cfg->audit_path = resolve_path(path, "audit.db");
  if (cfg->audit_instance.empty()) cfg->audit_instance = host_name();
  load_limits(c, root["limits"], cfg);
  load_admin_http(c, root["admin_http"], cfg);
  return errors->empty();
}

}  // namespace pgw
