// A session: one client connection and the upstream connection pgwarden opens for it, each an
// explicit state machine (client.cc and server.cc, as in pgbouncer). All of it runs on its
// worker's loop and never blocks: a step that must wait (TLS, authentication, the upstream)
// returns to the loop and resumes from the state recorded here.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <unordered_map>
#include <string>

#include "proxy/runtime/cancel.h"
#include "proxy/net/leg.h"
#include "proxy/masking/masking.h"
#include "proxy/judge/prepared.h"
#include "proxy/identity/scram.h"
#include "proxy/session/startup.h"
#include "proxy/wire/track.h"
#include "proxy/runtime/worker.h"

namespace pgw {

enum class ClientState {
  startup,        // waiting for SSLRequest / startup packet
  tls_handshake,  // after 'S', until the TLS handshake completes
  sasl_first,     // AuthenticationSASL sent, waiting for SASLInitialResponse
  sasl_final,     // server-first sent, waiting for the client-final message
  password,       // AuthenticationCleartextPassword sent (OIDC identity), waiting for the token
  connecting,     // authenticated; waiting for the upstream to be ready
  ready,          // relaying
  console,        // talking to the admin console, no upstream
};

enum class ServerState {
  none,            // no upstream connection yet
  connecting,      // TCP connect in progress
  ssl_request,     // SSLRequest sent, waiting for 'S' or 'N'
  tls_handshake,   // TLS handshake in progress
  authenticating,  // startup sent; answering the server's authentication requests
  greeting,        // authenticated; collecting ParameterStatus/BackendKeyData until ReadyForQuery
  ready,           // relaying
};

// A client request held back until its audit records are committed.
struct Waiting {
  std::string raw;  // the request as the client sent it
  Expect expect;    // what to track once it is forwarded
  std::vector<Judged> judged;
  std::vector<int64_t> seqs;
  size_t remaining = 0;
  std::string error;  // the store's error, if any append failed
  // A statement held for approval: which one of `judged`; once its record is committed, the
  // approval id the store gave it (its record's seq in a SQLite store); once it waits in the
  // approval book, that id again.
  bool held = false;
  size_t held_index = 0;
  int64_t store_approval_id = 0;
  int64_t approval_id = 0;
  int64_t requested_us = 0;  // the held record's time and deadline
  int64_t expires_us = 0;
  // The held statement's records are committed; it waits for the replies to the requests sent
  // before it, since after an error the server will skip it and no human need be asked.
  bool awaiting_earlier = false;
};

// A FunctionCall waiting for its function's name: the message as the client sent it.
struct PendingCall {
  std::string raw;
  uint32_t function_oid = 0;
  // The lookup failed (in an aborted transaction, say): the call is judged without the name, and
  // the next call of that OID looks it up again.
  bool lookup_failed = false;
};

struct Session final : LegOwner, MaskingHost {
  explicit Session(Worker* w);

  // LegOwner: the events of both legs (session.cc).
  void on_input(Leg& leg) override;
  void on_tls_ready(Leg& leg) override;
  void on_leg_error(Leg& leg, const std::string& why) override;
  void on_drained(Leg& leg) override;
  void on_leg_closed(Leg& leg) override;

  // MaskingHost: what masking asks of the session (session.cc).
  rules::RuleSetPtr rules_in_force() const override;
  rules::Context mask_context() const override;
  void send_upstream(const std::string& message, Expect e) override;
  void fail(const char* sqlstate, const std::string& message) override;
  void server_broke(const std::string& reason) override;

  Worker* worker;
  uint64_t uid;
  std::shared_ptr<const Shared> shared;
  std::string id;

  Leg client;
  Leg server;
  uv_connect_t connect_req;
  uv_timer_t timer;  // authentication deadline
  bool timer_open = false;
  int open_handles = 0;
  bool ending = false;

  ClientState cstate = ClientState::startup;
  // The admin console waits for the shared store's answer to a command; the rest of the query
  // runs once it has answered, and the client's next messages after that.
  bool console_waiting = false;
  std::string console_rest;
  ServerState sstate = ServerState::none;

  std::string client_addr;
  bool client_tls = false;
  StartupParams startup;
  std::string user;
  std::string database;
  std::string principal;
  std::string upstream_role;
  std::string job_id;
  std::string commit;
  std::string attribution = "none";
  const OidcIdentity* oidc = nullptr;  // the OIDC identity being authenticated, if any
  std::string identity_claims;         // OIDC: "name=value, ..." of the claims behind the principal
  // The session as its audit records name it, made with its first record (store/audit.h).
  store::SessionRef audit_session;

  ScramServer scram_server;
  ScramClient scram_client;

  CancelKey client_key;  // what the client was given
  CancelKey server_key;  // what the upstream backend gave pgwarden
  bool key_registered = false;

  // What the server's replies answer, and the outcomes of audited statements.
  Tracker tracker;
  MirroredObjects protocol_objects;  // extended-protocol statements and portals
  SqlScope sql_scope;                // search_path and SQL PREPAREs, as the session's statements set them
  // FunctionCall: the names of the functions called so far by OID (schema-qualified, quoted; empty
  // for an OID the catalog does not know), and a call waiting for its function's name.
  std::unordered_map<uint32_t, std::string> function_names;
  std::optional<PendingCall> pending_call;
  std::optional<Waiting> waiting;
  // Audit records of approved statements still running: their outcomes say who approved.
  std::unordered_map<int64_t, std::string> approved_by;
  // Masking of result values (masking.h); its `masks` is nullptr when no mask selects the session.
  Masking masking;

  // Requests forwarded upstream whose ReadyForQuery has not come back yet.
  int outstanding = 0;
  char tx_status = 'I';
  bool fatal_forwarded = false;
};

// Accepts a pending connection on the worker's listener and starts its session.
void session_accept(Worker* worker);
// Ends the session: sends nothing more, closes both legs, frees it once libuv is done.
void session_end(Session* s, const char* event, const std::string& reason);
// Sends the client a FATAL error and ends the session once it has been written; `event` names
// the log line.
void session_fatal(Session* s, const char* sqlstate, const std::string& message, const char* event = "session_refused");
// Stops the authentication deadline once the session is ready.
void session_auth_done(Session* s);
// Asks an idle session to finish (graceful shutdown); busy sessions finish at their next idle point.
void session_drain(Session* s);

// Called on the loop when the audit store committed (or failed) record `index` of the request
// the session is waiting on.
void session_on_audit(Session* s, size_t index, const store::AppendResult& result);

// Called by the server side after its replies were tracked: a held statement that waited for the
// requests before it to be answered is now held for approval, or skipped after their error.
void session_resume_held(Session* s);

// Called by the server side when a function-name lookup answered (or the server skipped it):
// judges the FunctionCall that waited for it and goes on reading the client.
void session_resume_call(Session* s);

// Appends the audit outcomes of statements that finished (`done` is emptied).
void record_outcomes(Session* s, std::vector<Finished>& done);

// The session is ending: every statement forwarded and not yet answered gets its outcome
// (SQLSTATE 08006 when the upstream connection was lost), and every statement recorded but not
// forwarded is recorded as not executed.
void settle_at_end(Session* s, bool upstream_lost, const std::string& reason);

// Sends pgwarden's own request (a whole message) upstream, ahead of what the client sends next,
// expecting its replies as `e` says: they are for pgwarden (Expect::internal) and never reach the
// client.
void send_internal(Session* s, const std::string& message, Expect e);


// console.cc
void console_start(Session* s);
void console_on_input(Session* s);

// client.cc
void client_on_input(Session* s);
void client_on_tls_ready(Session* s);
void client_pump(Session* s);
// server.cc
void server_connect(Session* s);
void server_on_input(Session* s);
void server_on_tls_ready(Session* s);

}  // namespace pgw
