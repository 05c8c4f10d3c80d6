// The client leg: startup, TLS negotiation, authentication of the principal (SCRAM for static
// identities, a JWT as cleartext password for OIDC identities), then the relay of the client's
// messages upstream.
#include <chrono>
#include <cstring>
#include <tuple>

#include "proxy/runtime/directory.h"
#include "proxy/runtime/log.h"
#include "proxy/identity/oidc.h"
#include "rules/glob.h"
#include "proxy/session/session.h"

namespace pgw {

namespace {

bool is_replication(const StartupParams& p) {
  const std::string* r = p.get("replication");
  return r && *r != "false" && *r != "off" && *r != "no" && *r != "0";
}

void send_auth_request(Session* s) {
  std::string out;
  write_auth(out, 10, s->scram_server.mechanisms());
  leg_send(s->client, out);
  leg_flush(s->client);
  s->cstate = ClientState::sasl_first;
}

// Asks an OIDC identity's client for its token, if this connection may carry it in clear.
void begin_token_auth(Session* s, const OidcIdentity& id) {
  if (!token_allowed_on(id, s->client_tls, s->client_addr)) {
    log_event(LogLevel::warn, "auth_refused",
              {{"session", s->id}, {"client", s->client_addr}, {"user", s->user},
               {"reason", "token login over plain TCP from outside plain_tcp_from"}});
    s->worker->stats->login(LoginMethod::oidc, LoginResult::failed);
    session_fatal(s, "28000", "pgwarden: user \"" + s->user + "\" logs in with a token sent in clear, which needs TLS " +
                                  "(sslmode=require) or a connection from an address in plain_tcp_from (loopback by default)");
    return;
  }
  s->oidc = &id;
  s->upstream_role = id.upstream_role;
  std::string out;
  write_auth(out, 3);
  leg_send(s->client, out);
  leg_flush(s->client);
  s->cstate = ClientState::password;
}

// Picks the identity the user name names and starts its authentication.
void begin_auth(Session* s) {
  const Config& cfg = *s->shared->config;
  if (const OidcIdentity* id = cfg.oidc_identity(s->user)) {
    begin_token_auth(s, *id);
    return;
  }
  s->scram_server.channel_binding = s->client_tls ? s->shared->channel_binding : std::string();
  if (const StaticIdentity* id = cfg.static_identity(s->user)) {
    s->principal = id->principal;
    s->upstream_role = id->upstream_role;
    s->scram_server.verifier = id->verifier;
  } else {
    // Unknown user: run the exchange against a made-up verifier, fail at the end like a wrong
    // password, so that the user names pgwarden knows cannot be probed.
    s->scram_server.mock = true;
    s->scram_server.verifier = make_scram_verifier(random_bytes(16), 4096);
  }
  send_auth_request(s);
}

// Sends NegotiateProtocolVersion when the client asked for a newer minor version or _pq_ options.
void negotiate_version(Session* s, int32_t version) {
  std::vector<std::string> unknown;
  for (auto it = s->startup.params.begin(); it != s->startup.params.end();) {
    if (it->first.rfind("_pq_.", 0) == 0) {
      unknown.push_back(it->first);
      it = s->startup.params.erase(it);
    } else {
      ++it;
    }
  }
  if ((version & 0xffff) == 0 && unknown.empty()) return;
  std::string out;
  Writer w(out);
  w.begin('v').i32(kProtocolV3).i32(static_cast<int32_t>(unknown.size()));
  for (const auto& u : unknown) w.cstr(u);
  w.end();
  leg_send(s->client, out);
}

void take_claimed_attribution(Session* s) {
  for (const auto& [k, v] : s->startup.pgwarden) {
    if (k == "job_id") s->job_id = v;
    else if (k == "commit") s->commit = v;
  }
  if (!s->job_id.empty() || !s->commit.empty()) s->attribution = "claimed";
}

void on_startup_packet(Session* s, int32_t version, std::string_view body) {
  std::string error;
  if (!parse_startup(body, &s->startup, &error)) {
    session_end(s, "protocol_error", error);
    return;
  }
  if (is_replication(s->startup)) {
    session_fatal(s, "28000", "pgwarden does not proxy replication connections");
    return;
  }
  const Config& cfg = *s->shared->config;
  if (cfg.client_tls == TlsMode::require && !s->client_tls) {
    session_fatal(s, "28000", "pgwarden requires TLS for every connection (tls.mode: require)");
    return;
  }
  const std::string* user = s->startup.get("user");
  if (!user || user->empty()) {
    session_fatal(s, "28000", "no PostgreSQL user name specified in startup packet");
    return;
  }
  s->user = *user;
  const std::string* db = s->startup.get("database");
  s->database = db && !db->empty() ? *db : s->user;
  take_claimed_attribution(s);
  s->client.typed = true;
  negotiate_version(s, version);
  begin_auth(s);
}

void on_cancel_request(Session* s, std::string_view body) {
  Reader r(body);
  r.i32();
  CancelKey key;
  key.pid = r.i32();
  key.secret = r.i32();
  CancelTarget target;
  if (r.ok() && cancel_lookup(s->worker->runtime->cancel_keys, key, &target)) {
    send_cancel(&s->worker->loop, target);
    log_event(LogLevel::info, "cancel_forwarded", {{"client", s->client_addr}});
  }
  session_end(s, "cancel_request", "cancel request handled");
}

// Untyped packets before and around TLS: SSLRequest, GSSENCRequest, CancelRequest, startup.
void on_startup_bytes(Session* s) {
  while (!s->ending && s->cstate == ClientState::startup && !s->client.typed) {
    std::string error;
    auto body = read_startup_packet(s->client.raw, &error);
    if (!error.empty()) {
      session_end(s, "protocol_error", error);
      return;
    }
    if (!body) return;
    Reader r(*body);
    int32_t code = r.i32();
    size_t consumed = 4 + body->size();
    std::string packet(s->client.raw.substr(0, consumed));
    s->client.raw.erase(0, consumed);
    std::string_view pbody = std::string_view(packet).substr(4);
    if (code == kSslRequestCode) {
      if (!s->client.raw.empty()) {
        session_end(s, "protocol_error", "data received after SSLRequest before the TLS handshake");
        return;
      }
      if (s->client_tls || !s->shared->client_tls) {
        leg_send(s->client, "N");
        leg_flush(s->client);
        continue;
      }
      leg_send(s->client, "S");
      leg_flush(s->client);
      leg_start_tls_server(s->client, s->shared->client_tls);
      s->cstate = ClientState::tls_handshake;
      return;
    }
    if (code == kGssEncRequestCode) {
      leg_send(s->client, "N");
      leg_flush(s->client);
      continue;
    }
    if (code == kCancelRequestCode) {
      on_cancel_request(s, pbody);
      return;
    }
    if ((code >> 16) != 3) {
      session_fatal(s, "0A000", "unsupported frontend protocol " + std::to_string(code >> 16) + "." +
                                    std::to_string(code & 0xffff) + ": server supports 3.0");
      return;
    }
    if (!s->client.raw.empty()) {
      session_end(s, "protocol_error", "data received after the startup packet before authentication");
      return;
    }
    on_startup_packet(s, code, pbody.substr(4));
  }
}

// The virtual database of the admin console.
constexpr std::string_view kConsoleDatabase = "pgwarden";

void open_console(Session* s) {
  if (!rules::any_glob_match(s->shared->config->admin_users, s->principal)) {
    log_event(LogLevel::warn, "console_refused", {{"session", s->id}, {"principal", s->principal}});
    session_fatal(s, "28000", "pgwarden: principal \"" + s->principal + "\" is not allowed on the admin console");
    return;
  }
  directory_put(s->worker->runtime->sessions, s->uid, SessionInfo{s->id, s->principal, s->job_id, s->commit, s->database, s->client_addr, "console", ""});
  console_start(s);
}

// AuthenticationOk went out: the session goes to the admin console or connects upstream.
void authenticated(Session* s) {
  s->cstate = ClientState::connecting;
  log_event(LogLevel::info, "client_authenticated",
            {{"session", s->id}, {"client", s->client_addr}, {"user", s->user}, {"principal", s->principal},
             {"database", s->database}, {"attribution", s->attribution}});
  if (s->database == kConsoleDatabase) {
    open_console(s);
    return;
  }
  server_connect(s);
}

// Values from a verified token replace claimed ones (a disagreement is logged, the claimed value
// dropped). Attribution stays `claimed` only if a claimed value remains for a field the identity
// has no template for.
void take_verified_attribution(Session* s, const OidcLogin& login) {
  bool claimed_left = false;
  for (auto [field, verified, value] :
       {std::tuple{"job_id", &login.job_id, &s->job_id}, std::tuple{"commit", &login.commit, &s->commit}}) {
    if (verified->empty()) {
      claimed_left = claimed_left || !value->empty();
      continue;
    }
    if (!value->empty() && *value != *verified)
      log_event(LogLevel::warn, "attribution_conflict",
                {{"session", s->id}, {"field", field}, {"claimed", *value}, {"verified", *verified}});
    *value = *verified;
  }
  s->attribution = claimed_left ? "claimed" : "verified";
}

// The PasswordMessage of an OIDC identity: the token.
void on_password_message(Session* s, const Message& m) {
  if (m.type != 'p') {
    session_fatal(s, "08P01", std::string("expected password message, got message type '") + m.type + "'");
    return;
  }
  Reader r(m.body);
  std::string_view token = r.cstr();
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  OidcLogin login;
  std::string reason = "malformed password message";
  if (!r.ok() || !oidc_authenticate(*s->oidc, token, now.count(), &login, &reason)) {
    log_event(LogLevel::warn, "auth_failed",
              {{"session", s->id}, {"client", s->client_addr}, {"user", s->user}, {"reason", reason}});
    s->worker->stats->login(LoginMethod::oidc, LoginResult::failed);
    session_fatal(s, "28P01", "password authentication failed for user \"" + s->user + "\": " + reason);
    return;
  }
  s->worker->stats->login(LoginMethod::oidc, LoginResult::ok);
  s->principal = login.principal;
  s->identity_claims = login.claims;
  take_verified_attribution(s, login);
  log_event(LogLevel::info, "token_verified",
            {{"session", s->id}, {"user", s->user}, {"principal", s->principal}, {"kid", login.kid},
             {"claims", login.claims}});
  std::string out;
  write_auth(out, 0);
  leg_send(s->client, out);
  leg_flush(s->client);
  authenticated(s);
}

void on_sasl_message(Session* s, const Message& m) {
  if (m.type != 'p') {
    session_fatal(s, "08P01", std::string("expected SASL response, got message type '") + m.type + "'");
    return;
  }
  std::string reply, error;
  bool ok;
  if (s->cstate == ClientState::sasl_first) {
    Reader r(m.body);
    std::string_view mech = r.cstr();
    int32_t len = r.i32();
    std::string_view data = len >= 0 ? r.bytes(static_cast<size_t>(len)) : std::string_view();
    ok = r.ok() && s->scram_server.on_client_first(mech, data, &reply, &error);
    if (!r.ok()) error = "malformed SASLInitialResponse";
    if (ok) {
      std::string out;
      write_auth(out, 11, reply);
      leg_send(s->client, out);
      leg_flush(s->client);
      s->cstate = ClientState::sasl_final;
      return;
    }
  } else {
    ok = s->scram_server.on_client_final(m.body, &reply, &error);
  }
  if (!ok) {
    log_event(LogLevel::warn, "auth_failed",
              {{"session", s->id}, {"client", s->client_addr}, {"user", s->user}, {"reason", error}});
    s->worker->stats->login(LoginMethod::scram, LoginResult::failed);
    session_fatal(s, "28P01", "password authentication failed for user \"" + s->user + "\"");
    return;
  }
  s->worker->stats->login(LoginMethod::scram, LoginResult::ok);
  std::string out;
  write_auth(out, 12, reply);
  write_auth(out, 0);
  leg_send(s->client, out);
  leg_flush(s->client);
  authenticated(s);
}

}  // namespace

void client_on_input(Session* s) {
  switch (s->cstate) {
    case ClientState::startup:
      on_startup_bytes(s);
      break;
    case ClientState::tls_handshake:
      break;
    case ClientState::sasl_first:
    case ClientState::sasl_final:
      while (!s->ending && (s->cstate == ClientState::sasl_first || s->cstate == ClientState::sasl_final)) {
        auto m = s->client.framer.next();
        if (!m) break;
        on_sasl_message(s, *m);
      }
      break;
    case ClientState::password:
      while (!s->ending && s->cstate == ClientState::password) {
        auto m = s->client.framer.next();
        if (!m) break;
        on_password_message(s, *m);
      }
      break;
    case ClientState::connecting:
      break;
    case ClientState::ready:
      client_pump(s);
      return;
    case ClientState::console:
      console_on_input(s);
      return;
  }
  if (!s->ending && s->client.framer.error())
    session_fatal(s, "08P01", "pgwarden: " + s->client.framer.error()->what, "protocol_error");
}

void client_on_tls_ready(Session* s) {
  s->client_tls = true;
  s->cstate = ClientState::startup;
  on_startup_bytes(s);
}

}  // namespace pgw
