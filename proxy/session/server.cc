// The server leg: connecting upstream, TLS, authenticating as the identity's upstream role with
// pgwarden's own credential, the greeting, then the relay of the server's messages to the client.
#include <algorithm>

#include "proxy/judge/sql_text.h"
#include "proxy/runtime/directory.h"
#include "proxy/wire/fields.h"
#include "proxy/runtime/log.h"
#include "proxy/session/session.h"

namespace pgw {

namespace {

void fail_upstream(Session* s, const std::string& why) {
  s->worker->stats->upstream_connect_errors.add();
  log_event(LogLevel::error, "upstream_failed", {{"session", s->id}, {"reason", why}});
  session_fatal(s, "08006", "pgwarden: cannot connect to the upstream server: " + why);
}

void send_startup(Session* s) {
  std::string out;
  Writer w(out);
  w.begin_untyped().i32(kProtocolV3);
  w.cstr("user").cstr(s->upstream_role);
  w.cstr("database").cstr(s->database);
  for (const auto& [k, v] : s->startup.params) {
    if (k == "user" || k == "database" || (k == "options" && v.empty())) continue;
    w.cstr(k).cstr(v);
  }
  w.u8(0).end();
  leg_send(s->server, out);
  leg_flush(s->server);
  s->server.typed = true;
  s->sstate = ServerState::authenticating;
}

void on_connected(uv_connect_t* req, int status) {
  auto* s = static_cast<Session*>(req->data);
  if (s->ending) return;
  s->worker->runtime->metrics.upstream_up.store(status == 0, std::memory_order_relaxed);
  if (status < 0) {
    fail_upstream(s, uv_strerror(status));
    return;
  }
  uv_tcp_nodelay(&s->server.tcp, 1);
  s->server.connected = true;
  leg_start_reading(s->server);
  if (s->shared->upstream_tls) {
    std::string req_packet;
    Writer(req_packet).begin_untyped().i32(kSslRequestCode).end();
    leg_send(s->server, req_packet);
    leg_flush(s->server);
    s->sstate = ServerState::ssl_request;
  } else {
    send_startup(s);
  }
}

void on_ssl_answer(Session* s) {
  if (s->server.raw.empty()) return;
  char answer = s->server.raw[0];
  if (answer == 'S') {
    if (s->server.raw.size() > 1) {
      fail_upstream(s, "the server sent data after accepting SSLRequest, before the TLS handshake");
      return;
    }
    s->server.raw.clear();
    const Config& cfg = *s->shared->config;
    s->sstate = ServerState::tls_handshake;
    leg_start_tls_client(s->server, s->shared->upstream_tls, cfg.upstream_host,
                         cfg.upstream_tls == TlsMode::verify_full);
    return;
  }
  if (answer == 'N') {
    s->server.raw.clear();
    TlsMode mode = s->shared->config->upstream_tls;
    if (mode == TlsMode::require || mode == TlsMode::verify_full) {
      fail_upstream(s, "the server does not support TLS, and upstream.tls requires it");
      return;
    }
    send_startup(s);
    return;
  }
  fail_upstream(s, "unexpected answer to SSLRequest");
}

// The 'p' message in its three shapes: a NUL-terminated password (cleartext, md5), a
// SASLInitialResponse (mechanism and length-prefixed data), or a SASLResponse (bare data).
enum class PasswordShape { password, sasl_initial, sasl_response };

void send_password_message(Session* s, PasswordShape shape, std::string_view payload) {
  std::string out;
  Writer w(out);
  w.begin('p');
  if (shape == PasswordShape::password) w.cstr(payload);
  if (shape == PasswordShape::sasl_initial) w.cstr("SCRAM-SHA-256").i32(static_cast<int32_t>(payload.size()));
  if (shape != PasswordShape::password) w.bytes(payload);
  w.end();
  leg_send(s->server, out);
  leg_flush(s->server);
}

const std::string& role_password(Session* s) {
  static const std::string none;
  const UpstreamRole* r = s->shared->config->role(s->upstream_role);
  return r ? r->password : none;
}

// One authentication request from the server; false ends the session.
bool on_auth_request(Session* s, const Message& m) {
  Reader r(m.body);
  int32_t code = r.i32();
  std::string reply, error;
  switch (code) {
    case 0:
      s->sstate = ServerState::greeting;
      return true;
    case 3:
      send_password_message(s, PasswordShape::password, role_password(s));
      return true;
    case 5: {
      std::string_view salt = r.bytes(4);
      if (!r.ok()) break;
      send_password_message(s, PasswordShape::password, md5_password(s->upstream_role, role_password(s), salt));
      return true;
    }
    case 10: {
      bool scram = false;
      while (r.ok() && !r.at_end()) {
        std::string_view mech = r.cstr();
        if (mech == "SCRAM-SHA-256") scram = true;
        if (mech.empty()) break;
      }
      if (!scram) {
        error = "the server offers no SASL mechanism pgwarden supports";
        break;
      }
      s->scram_client.password = role_password(s);
      send_password_message(s, PasswordShape::sasl_initial, s->scram_client.client_first());
      return true;
    }
    case 11:
      if (!s->scram_client.on_server_first(r.rest(), &reply, &error)) break;
      send_password_message(s, PasswordShape::sasl_response, reply);
      return true;
    case 12:
      if (!s->scram_client.on_server_final(r.rest(), &error)) break;
      return true;
    default:
      error = "the server asks for an authentication method pgwarden does not support (code " +
              std::to_string(code) + ")";
  }
  fail_upstream(s, error.empty() ? "malformed authentication request" : error);
  return false;
}

// A server error before the session is ready: forwarded, except that a failure to authenticate
// the upstream role is pgwarden's configuration problem, not the client's.
void on_startup_error(Session* s, const Message& m) {
  auto fields = parse_error_fields(m.body);
  std::string_view code = error_field(fields, 'C');
  if (s->sstate == ServerState::authenticating && (code == "28P01" || code == "28000")) {
    s->worker->stats->upstream_connect_errors.add();
    log_event(LogLevel::error, "upstream_auth_failed",
              {{"session", s->id}, {"role", s->upstream_role}, {"reason", error_field(fields, 'M')}});
    session_fatal(s, "08006", "pgwarden: the upstream server refused pgwarden's credential for its configured role");
    return;
  }
  leg_send(s->client, m.raw);
  s->fatal_forwarded = true;
  session_end(s, "upstream_refused", std::string(error_field(fields, 'M')));
}

void on_ready(Session* s, const Message& m) {
  s->tx_status = m.body.empty() ? 'I' : m.body[0];
  s->sstate = ServerState::ready;
  s->cstate = ClientState::ready;
  s->client_key = cancel_new_key(s->worker->runtime->cancel_keys);
  CancelTarget t;
  t.addr = s->shared->upstream_addr;
  t.upstream = s->server_key;
  cancel_register(s->worker->runtime->cancel_keys, s->client_key, t);
  s->key_registered = true;
  std::string out;
  write_backend_key(out, s->client_key.pid, s->client_key.secret);
  leg_send(s->client, out);
  leg_send(s->client, m.raw);
  session_auth_done(s);
  directory_put(s->worker->runtime->sessions, s->uid, SessionInfo{s->id, s->principal, s->job_id, s->commit, s->database, s->client_addr, "idle", ""});
  log_event(LogLevel::info, "session_ready",
            {{"session", s->id}, {"principal", s->principal}, {"database", s->database}, {"role", s->upstream_role}});
}

void on_startup_message(Session* s, const Message& m) {
  switch (m.type) {
    case 'R':
      if (s->sstate == ServerState::authenticating) {
        on_auth_request(s, m);
        return;
      }
      break;
    case 'E':
      on_startup_error(s, m);
      return;
    case 'S':
    case 'N':
      if (s->sstate == ServerState::greeting || m.type == 'N') {
        leg_send(s->client, m.raw);
        return;
      }
      break;
    case 'K':
      if (s->sstate == ServerState::greeting) {
        Reader r(m.body);
        s->server_key.pid = r.i32();
        s->server_key.secret = r.i32();
        return;
      }
      break;
    case 'Z':
      if (s->sstate == ServerState::greeting) {
        on_ready(s, m);
        return;
      }
      break;
    case 'v':
      return;
  }
  fail_upstream(s, std::string("unexpected message type '") + m.type + "' during startup");
}

// Keeps the name a function lookup (an internal query, see requests.cc) returns; an OID the
// catalog does not know is remembered with an empty name (until the call is judged, when the
// lookup failed instead).
void on_function_lookup(Session* s, const Message& m, uint32_t oid) {
  std::vector<std::optional<std::string_view>> values;
  if (m.type == 'D' && split_data_row(m.body, &values) && values.size() == 2 && values[0] && values[1]) {
    s->function_names[oid] = quote_ident(*values[0]) + "." + quote_ident(*values[1]);
  } else if (m.type == 'E' && s->pending_call) {
    s->pending_call->lookup_failed = true;
  } else if (m.type == 'Z') {
    s->function_names.try_emplace(oid);
  }
}

// pgwarden's own requests that the server skipped (after an error, up to Sync): a catalog query
// the masking code waits for is taken as failed; a function lookup is left to the FunctionCall
// waiting for it, which the server skips too (session_resume_call).
void settle_skipped_internal(Session* s) {
  for (const Expect& e : s->tracker.skipped_internal) {
    if (e.request == 'Q' && !e.function_lookup) masking_catalog_skipped(s->masking);
  }
  s->tracker.skipped_internal.clear();
}

void relay(Session* s) {
  std::vector<Finished> done;
  std::string replacement;
  int64_t now = monotonic_us();
  while (auto m = s->server.framer.next()) {
    if (m->type == 'Z') {
      s->tx_status = m->body.empty() ? 'I' : m->body[0];
      if (s->outstanding > 0) --s->outstanding;
      masking_on_ready(s->masking, s->tx_status, s->outstanding);
    } else if (m->type == 'E') {
      auto fields = parse_error_fields(m->body);  // the severity below points into it
      std::string_view sev = error_field(fields, 'S');
      if (sev == "FATAL" || sev == "PANIC") s->fatal_forwarded = true;
    }
    if (const Expect* e = s->tracker.current()) {
      if (e->function_lookup) on_function_lookup(s, *m, e->function_lookup);
      confirm_change(s->protocol_objects, *e, m->type);
    }
    uint64_t skips = s->tracker.skips;
    bool masked = (s->masking.masks || !s->masking.incoming.empty()) &&
                  masking_on_message(s->masking, *s, s->tracker.current(), *m);
    if (s->ending) break;
    size_t finished = done.size();
    switch (s->tracker.on_server(*m, now, &replacement, &done)) {
      case Verdict::relay: leg_send(s->client, masked ? std::string_view(s->masking.out) : m->raw); break;
      case Verdict::replace: leg_send(s->client, replacement); break;
      case Verdict::drop: break;
    }
    s->outstanding = std::max(0, s->outstanding - std::exchange(s->tracker.ignored_syncs, 0));
    if (done.size() > finished) done[finished].masked_values = std::exchange(s->masking.masked, 0);
    if (s->tracker.skips != skips) rebuild_expected(s->protocol_objects, s->tracker.pending);
    settle_skipped_internal(s);
  }
  if (!done.empty()) record_outcomes(s, done);
  if (s->ending) return;
  if (s->pending_call) session_resume_call(s);
  session_resume_held(s);
}

}  // namespace

void server_connect(Session* s) {
  uv_tcp_init(&s->worker->loop, &s->server.tcp);
  s->server.open = true;
  ++s->open_handles;
  s->sstate = ServerState::connecting;
  s->connect_req.data = s;
  int rc = uv_tcp_connect(&s->connect_req, &s->server.tcp,
                          reinterpret_cast<const sockaddr*>(&s->shared->upstream_addr), on_connected);
  if (rc != 0) {
    s->worker->runtime->metrics.upstream_up.store(false, std::memory_order_relaxed);
    fail_upstream(s, uv_strerror(rc));
  }
}

void server_on_tls_ready(Session* s) { send_startup(s); }

void server_on_input(Session* s) {
  if (s->sstate == ServerState::ssl_request) {
    on_ssl_answer(s);
    return;
  }
  bool was_ready = s->sstate == ServerState::ready;
  while (!s->ending && s->sstate != ServerState::ready) {
    auto m = s->server.framer.next();
    if (!m) break;
    on_startup_message(s, *m);
  }
  if (s->ending) return;
  if (s->sstate == ServerState::ready) relay(s);
  s->server.framer.compact();
  if (s->server.framer.error()) {
    session_end(s, "protocol_error", "server: " + s->server.framer.error()->what);
    return;
  }
  if (!leg_flush(s->client)) {
    session_end(s, "client_closed", "write to the client failed");
    return;
  }
  if (s->client.in_flight > kHighWater) leg_stop_reading(s->server);
  if (!was_ready && s->sstate == ServerState::ready) client_pump(s);
  if (s->worker->draining && s->outstanding == 0 && s->tx_status == 'I') session_drain(s);
}

}  // namespace pgw
