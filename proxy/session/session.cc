#include "proxy/session/session.h"

#include <atomic>
#include <chrono>

#include "proxy/runtime/approvals.h"
#include "proxy/runtime/directory.h"
#include "proxy/runtime/log.h"

namespace pgw {

namespace {

std::atomic<uint64_t> g_next_session{1};

std::string session_id(uint64_t uid) {
  static const uint64_t epoch = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  char buf[48];
  std::snprintf(buf, sizeof buf, "%llx-%llu", static_cast<unsigned long long>(epoch),
                static_cast<unsigned long long>(uid));
  return buf;
}

std::string peer_address(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char host[64] = "";
  if (ss.ss_family == AF_INET) uv_ip4_name(reinterpret_cast<sockaddr_in*>(&ss), host, sizeof host);
  else if (ss.ss_family == AF_INET6) uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&ss), host, sizeof host);
  return host;
}

void maybe_free(Session* s) {
  if (!s->ending || s->open_handles > 0) return;
  if (s->key_registered) cancel_unregister(s->worker->runtime->cancel_keys, s->client_key);
  directory_remove(s->worker->runtime->sessions, s->uid);
  s->worker->stats->sessions_open.fetch_sub(1, std::memory_order_relaxed);
  s->worker->sessions.erase(s);
  s->worker->by_uid.erase(s->uid);
  delete s;
}

void on_timer_closed(uv_handle_t* h) {
  auto* s = static_cast<Session*>(h->data);
  --s->open_handles;
  maybe_free(s);
}

void on_auth_timeout(uv_timer_t* t) {
  auto* s = static_cast<Session*>(t->data);
  log_event(LogLevel::warn, "auth_timeout", {{"session", s->id}, {"client", s->client_addr}});
  session_fatal(s, "08006", "pgwarden: authentication timed out");
}

}  // namespace

Session::Session(Worker* w)
    : worker(w),
      uid(g_next_session++),
      shared(w->shared),
      id(session_id(uid)),
      client(this, true, w->shared->config->max_client_message),
      server(this, false, w->shared->config->max_server_message) {
  client.bytes_read = &w->stats->bytes_from_client.value;
  server.bytes_read = &w->stats->bytes_from_upstream.value;
}

void session_accept(Worker* worker) {
  auto* s = new Session(worker);
  uv_tcp_init(&worker->loop, &s->client.tcp);
  s->client.open = true;
  ++s->open_handles;
  worker->sessions.insert(s);
  worker->by_uid[s->uid] = s;
  worker->stats->sessions_open.fetch_add(1, std::memory_order_relaxed);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&worker->listener), reinterpret_cast<uv_stream_t*>(&s->client.tcp)) != 0) {
    session_end(s, "accept_failed", "accept failed");
    return;
  }
  uv_tcp_nodelay(&s->client.tcp, 1);
  s->client.connected = true;
  s->client_addr = peer_address(&s->client.tcp);
  uv_timer_init(&worker->loop, &s->timer);
  s->timer.data = s;
  s->timer_open = true;
  ++s->open_handles;
  uv_timer_start(&s->timer, on_auth_timeout, static_cast<uint64_t>(s->shared->config->auth_timeout.count()), 0);
  leg_start_reading(s->client);
}

void session_end(Session* s, const char* event, const std::string& reason) {
  if (s->ending) return;
  s->ending = true;
  log_event(LogLevel::info, event,
            {{"session", s->id}, {"client", s->client_addr}, {"principal", s->principal}, {"reason", reason}});
  if (s->cstate == ClientState::ready) settle_at_end(s, std::string_view(event) == "upstream_closed", reason);
  const std::string gone = "the client disconnected while the statement waited for approval";
  if (s->waiting && s->waiting->approval_id &&
      approvals_withdraw(s->worker->runtime->approvals, s->waiting->approval_id, gone)) {
    store::Outcome o;
    o.seq = s->waiting->seqs[s->waiting->held_index];
    o.decision = "withdrawn";
    o.error = gone;
    audit_outcome(s->worker, o);
  }
  worker_commit_outcomes(s->worker);
  if (s->sstate == ServerState::ready && s->outstanding > 0 && s->key_registered) {
    CancelTarget t;
    t.addr = s->shared->upstream_addr;
    t.upstream = s->server_key;
    send_cancel(&s->worker->loop, t);
  }
  if (s->server.open && s->sstate == ServerState::ready && !s->server.eof) {
    std::string x;
    Writer(x).begin('X').end();
    leg_send(s->server, x);
  }
  leg_finish(s->client);
  leg_finish(s->server);
  if (s->timer_open) {
    s->timer_open = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&s->timer), on_timer_closed);
  }
  maybe_free(s);
}

void session_fatal(Session* s, const char* sqlstate, const std::string& message, const char* event) {
  std::string e;
  write_error(e, "FATAL", sqlstate, message);
  leg_send(s->client, e);
  session_end(s, event, message);
}

void session_drain(Session* s) {
  if (s->cstate != ClientState::ready || (s->outstanding == 0 && s->tx_status == 'I'))
    session_fatal(s, "57P01", "terminating connection due to administrator command");
}

void session_auth_done(Session* s) {
  if (!s->timer_open) return;
  s->timer_open = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&s->timer), on_timer_closed);
}

void Session::on_input(Leg& leg) {
  if (leg.is_client) client_on_input(this);
  else server_on_input(this);
}

void Session::on_tls_ready(Leg& leg) {
  if (leg.is_client) client_on_tls_ready(this);
  else server_on_tls_ready(this);
}

void Session::on_leg_error(Leg& leg, const std::string& why) {
  if (leg.is_client) {
    session_end(this, "client_closed", why);
    return;
  }
  if (!fatal_forwarded && client.open) {
    std::string e;
    write_error(e, "FATAL", "08006", "pgwarden: the upstream connection was lost: " + why);
    leg_send(client, e);
  }
  session_end(this, "upstream_closed", why);
}

void Session::on_drained(Leg& leg) {
  if (ending) return;
  if (leg.is_client && sstate == ServerState::ready) leg_start_reading(server);
  if (!leg.is_client && cstate == ClientState::ready) {
    leg_start_reading(client);
    client_pump(this);
  }
}

void Session::on_leg_closed(Leg&) {
  --open_handles;
  maybe_free(this);
}

rules::RuleSetPtr Session::rules_in_force() const { return worker->rules(); }

rules::Context Session::mask_context() const { return rules::Context{principal, job_id, database, client_addr}; }

void Session::send_upstream(const std::string& message, Expect e) { send_internal(this, message, std::move(e)); }

void Session::fail(const char* sqlstate, const std::string& message) { session_fatal(this, sqlstate, message); }

void Session::server_broke(const std::string& reason) { session_end(this, "protocol_error", reason); }

}  // namespace pgw
