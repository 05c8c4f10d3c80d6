// The client's requests once the session is ready: each statement is judged before it is
// forwarded, its audit record is committed first (the request waits, the loop does not), and a
// refused statement is replaced upstream by one that fails with the same effect on the
// transaction, so the server's transaction state stays the authority (see inject_refusal).
#include <algorithm>
#include <chrono>

#include "proxy/approvals.h"
#include "proxy/directory.h"
#include "proxy/log.h"
#include "proxy/session.h"

namespace pgw {

namespace {

// A client that keeps sending while a request waits is not read past this much buffered input.
constexpr size_t kMaxBufferedWhileWaiting = 1 << 20;

// A statement that fails on the server with the refusal's message, leaving an explicit
// transaction aborted exactly as a failing statement would.
std::string failing_statement(const Refusal& r) {
  return "DO $pgwarden$BEGIN RAISE EXCEPTION USING ERRCODE = '" + r.sqlstate + "', MESSAGE = " +
         sql_literal(r.message) + "; END$pgwarden$";
}

// Counts a request that the server answers with ReadyForQuery.
void count_outstanding(Session* s, char request) {
  if (request == 'Q' || request == 'S' || request == 'F') ++s->outstanding;
}

void forward(Session* s, std::string_view raw, Expect e) {
  masking_before_forward(s, raw, e);
  count_outstanding(s, e.request);
  e.started_us = monotonic_us();
  leg_send(s->server, raw);
  if (e.request) s->tracker.expect(std::move(e));
}

// Refuses the request being handled: the server runs a stand-in statement that fails, and the
// client gets pgwarden's ErrorResponse in place of the server's. `simple` is a Query; otherwise
// the extended protocol, where the client's messages up to Sync are then dropped.
void inject_refusal(Session* s, bool simple, const Refusal& refusal) {
  std::string stmt = failing_statement(refusal);
  std::string error;
  write_error(error, "ERROR", refusal.sqlstate, refusal.message);
  std::string out;
  Expect e;
  e.injected = true;
  if (simple) {
    Writer(out).begin('Q').cstr(stmt).end();
    e.request = 'Q';
    e.error = error;
    forward(s, out, e);
    return;
  }
  Writer(out).begin('P').cstr("").cstr(stmt).i16(0).end();
  e.request = 'P';
  forward(s, out, e);
  out.clear();
  Writer(out).begin('B').cstr("").cstr("").i16(0).i16(0).i16(0).end();
  e.request = 'B';
  forward(s, out, e);
  out.clear();
  Writer(out).begin('E').cstr("").i32(0).end();
  e.request = 'E';
  e.error = error;
  forward(s, out, e);
  s->discarding = true;
}

// A statement refused outright (deny, or a parse error under on_parse_error: deny).
bool denied(const Judged& j) { return refused(j.decision) && !held(j.decision); }

bool any_denied(const std::vector<Judged>& judged) {
  return std::any_of(judged.begin(), judged.end(), denied);
}

// The first statement held for approval and not yet approved, or judged.size().
size_t first_held(const std::vector<Judged>& judged) {
  size_t i = 0;
  while (i < judged.size() && (!held(judged[i].decision) || !judged[i].approved_by.empty())) ++i;
  return i;
}

// Records a statement that will not run, with its outcome, without waiting for the commit.
void record_refused(Session* s, const Judged& j, const char* protocol, const std::string& sqlstate,
                    const std::string& why) {
  store::Outcome o;
  o.sqlstate = sqlstate;
  o.error = why;
  Worker* w = s->worker;
  store::AuditStore* st = w->runtime->store.get();
  st->append(make_record(s, j, protocol, ""), [w, st, o](store::AppendResult r) mutable {
    if (!r.ok()) return;
    o.seq = r.seq;
    worker_run(w, [st, o] { st->append_outcome(o); });
  });
}

// Refuses every statement of `judged` (one of them was refused by the rules).
void refuse_all(Session* s, const std::vector<Judged>& judged, bool simple, const char* protocol) {
  const Judged* culprit = &*std::find_if(judged.begin(), judged.end(), denied);
  Refusal refusal = refusal_of(*culprit);
  for (const auto& j : judged) {
    if (&j == culprit) record_refused(s, j, protocol, refusal.sqlstate, refusal.message);
    else record_refused(s, j, protocol, "", "not executed: another statement of the same request was refused");
  }
  log_event(LogLevel::info, "statement_refused",
            {{"session", s->id}, {"principal", s->principal}, {"rule", culprit->decision.rule},
             {"command", culprit->facts.command}});
  inject_refusal(s, simple, refusal);
}

// Appends the records of a request and holds it until they are committed (and, for a statement
// held by a rule, until its approval is settled).
void submit(Session* s, std::string_view raw, Expect e, std::vector<Judged> judged, const char* protocol,
            const std::string& parameters) {
  Waiting w;
  w.held_index = first_held(judged);
  w.held = w.held_index < judged.size();
  w.raw = std::string(raw);
  w.expect = std::move(e);
  w.seqs.assign(judged.size(), 0);
  w.remaining = judged.size();
  Worker* worker = s->worker;
  uint64_t uid = s->uid;
  std::vector<store::AuditRecord> records;
  for (const auto& j : judged) records.push_back(make_record(s, j, protocol, parameters));
  if (w.held) {
    w.requested_us = records[w.held_index].ts_us;
    w.expires_us = records[w.held_index].expires_us;
  }
  w.judged = std::move(judged);
  s->waiting = std::move(w);
  for (size_t i = 0; i < records.size(); ++i) {
    worker->runtime->store->append(std::move(records[i]), [worker, uid, i](store::AppendResult r) {
      worker_run(worker, [worker, uid, i, r] {
        auto it = worker->by_uid.find(uid);
        if (it != worker->by_uid.end()) session_on_audit(it->second, i, r);
      });
    });
  }
}

void on_query(Session* s, const Message& m) {
  Reader r(m.body);
  std::string_view text = r.cstr();
  std::vector<Judged> judged = judge_text(s, text);
  Expect e;
  e.request = 'Q';
  if (judged.empty()) {
    forward(s, m.raw, e);
    return;
  }
  directory_set_state(s->uid, "active", text);
  masking_check(s, judged);
  masking_plan(s, judged, &e);
  if (any_denied(judged)) {
    refuse_all(s, judged, true, "simple");
    return;
  }
  for (const auto& j : judged) note_effects(s, j);
  submit(s, m.raw, std::move(e), std::move(judged), "simple", "");
}

void on_parse(Session* s, const Message& m) {
  Reader r(m.body);
  std::string name(r.cstr());
  std::string_view text = r.cstr();
  Prepared p;
  p.statements = judge_text(s, text);
  directory_set_state(s->uid, "active", text);
  masking_check(s, p.statements);
  if (any_denied(p.statements)) {
    refuse_all(s, p.statements, false, "extended");
    return;
  }
  Expect e;
  e.request = 'P';
  if (first_held(p.statements) < p.statements.size()) {
    // The Parse itself waits for approval; the statement is remembered once it is approved.
    std::vector<Judged> judged = p.statements;
    s->prepared[name] = std::move(p);
    submit(s, m.raw, std::move(e), std::move(judged), "extended", "");
    return;
  }
  s->prepared[name] = std::move(p);
  forward(s, m.raw, e);
}

void on_bind(Session* s, const Message& m) {
  std::string portal, statement;
  std::string params = bind_parameters_json(m.body, s->masking.masks.get(), &portal, &statement);
  s->portals[portal] = Portal{statement, std::move(params)};
  Expect e;
  e.request = 'B';
  forward(s, m.raw, e);
}

const Prepared* find_prepared(Session* s, const std::string& name) {
  auto it = s->prepared.find(name);
  if (it != s->prepared.end()) return &it->second;
  auto sql = s->sql_prepared.find(name);
  return sql != s->sql_prepared.end() ? &sql->second : nullptr;
}

void on_execute(Session* s, const Message& m) {
  Reader r(m.body);
  std::string portal(r.cstr());
  Expect e;
  e.request = 'E';
  auto it = s->portals.find(portal);
  const Prepared* p = it == s->portals.end() ? nullptr : find_prepared(s, it->second.statement);
  if (!p || p->statements.empty()) {
    // The server reports the missing portal or statement itself.
    forward(s, m.raw, e);
    return;
  }
  std::vector<Judged> judged{p->statements.front()};
  for (const auto& j : judged) note_effects(s, j);
  masking_plan(s, judged, &e);
  submit(s, m.raw, std::move(e), std::move(judged), "extended", it->second.parameters);
}

// Asks the server for the name of function `oid`; the call waits in pending_call meanwhile.
void lookup_function(Session* s, uint32_t oid) {
  std::string out;
  Writer(out)
      .begin('Q')
      .cstr("SELECT n.nspname::pg_catalog.text, p.proname::pg_catalog.text FROM pg_catalog.pg_proc p "
            "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace "
            "WHERE p.oid OPERATOR(pg_catalog.=) " + std::to_string(oid) + "::pg_catalog.oid")
      .end();
  Expect e;
  e.function_lookup = oid;
  send_internal(s, out, std::move(e));
}

// A FunctionCall (the fast-path interface of libpq's large-object functions) is judged as the
// same call in SQL, once the function's name is known; an OID the catalog does not know is
// judged as a call of a function named by that number.
void on_function_call(Session* s, std::string_view raw) {
  uint32_t oid = 0;
  std::string arguments = function_call_arguments(raw.substr(5), s->masking.masks.get(), &oid);
  auto name = s->function_names.find(oid);
  if (name == s->function_names.end()) {
    s->pending_call = std::string(raw);
    lookup_function(s, oid);
    return;
  }
  std::string sql = "SELECT " + (name->second.empty() ? quote_ident(std::to_string(oid)) : name->second) + "()";
  std::vector<Judged> judged = judge_text(s, sql);
  directory_set_state(s->uid, "active", sql);
  if (any_denied(judged)) {
    refuse_all(s, judged, true, "function_call");
    return;
  }
  Expect e;
  e.request = 'F';
  submit(s, raw, std::move(e), std::move(judged), "function_call", arguments);
}

void on_close(Session* s, const Message& m) {
  Reader r(m.body);
  char what = static_cast<char>(r.u8());
  std::string name(r.cstr());
  if (what == 'S') s->prepared.erase(name);
  else s->portals.erase(name);
  Expect e;
  e.request = 'C';
  forward(s, m.raw, e);
}

// Handles one client message; false when the session ended.
bool on_request(Session* s, const Message& m) {
  if (m.type == 'X') {
    leg_flush(s->server);
    session_end(s, "client_terminated", "Terminate");
    return false;
  }
  if (s->discarding) {
    if (m.type != 'S') return true;
    s->discarding = false;
  }
  Expect e;
  switch (m.type) {
    case 'Q': on_query(s, m); break;
    case 'P': on_parse(s, m); break;
    case 'B': on_bind(s, m); break;
    case 'E': on_execute(s, m); break;
    case 'C': on_close(s, m); break;
    case 'F': on_function_call(s, m.raw); break;
    case 'D':
    case 'S':
      e.request = m.type;
      forward(s, m.raw, e);
      break;
    default:
      forward(s, m.raw, e);
  }
  return true;
}

std::string join_names(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ";") + x;
  return out;
}

std::string format_duration(int64_t us) {
  if (us % 1000000 != 0) return std::to_string(us / 1000) + "ms";
  int64_t secs = us / 1000000;
  if (secs % 3600 == 0 && secs > 0) return std::to_string(secs / 3600) + "h";
  if (secs % 60 == 0 && secs > 0) return std::to_string(secs / 60) + "m";
  return std::to_string(secs) + "s";
}

// The name a held Parse prepares.
std::string parse_name(const std::string& raw) {
  Reader r(std::string_view(raw).substr(5));
  return std::string(r.cstr());
}

void mark_prepared_approved(Session* s, const std::string& raw, const std::string& approvers) {
  auto it = s->prepared.find(parse_name(raw));
  if (it == s->prepared.end()) return;
  for (auto& j : it->second.statements) j.approved_by = approvers;
}

void forget_prepared(Session* s, const std::string& raw) { s->prepared.erase(parse_name(raw)); }

// The held statement's record is committed: its seq becomes the approval id, the client is told
// how to approve it, and the request waits in the book until someone decides.
void hold_for_approval(Session* s, Waiting w) {
  const Judged& j = w.judged[w.held_index];
  Approval a;
  a.id = w.seqs[w.held_index];
  a.principal = s->principal;
  a.job_id = s->job_id;
  a.rule = j.decision.rule;
  a.statement = j.text;
  a.requested_us = w.requested_us;
  a.expires_us = w.expires_us;
  for (const auto& g : j.decision.approvers) {
    rules::Glob glob;
    std::string error;
    if (rules::compile_glob(g, rules::Folding::exact, &glob, &error)) a.approver_globs.push_back(std::move(glob));
  }
  a.required = std::max(1, j.decision.approvals_required);
  a.worker = s->worker;
  a.session_uid = s->uid;
  w.approval_id = a.id;
  std::string notice;
  write_notice(notice,
               "pgwarden: statement held for approval by rule \"" + a.rule + "\" (approval id " + std::to_string(a.id) +
                   ")",
               "An approver connects to the database \"pgwarden\" through pgwarden and runs: APPROVE " +
                   std::to_string(a.id) + "; the request expires at " + store::format_ts(a.expires_us) + ".");
  leg_send(s->client, notice);
  leg_flush(s->client);
  log_event(LogLevel::info, "statement_held",
            {{"session", s->id}, {"principal", s->principal}, {"rule", a.rule}, {"id", std::to_string(a.id)}});
  directory_set_state(s->uid, "held", j.text);
  s->waiting = std::move(w);
  approvals_add(std::move(a));
}

}  // namespace

void send_internal(Session* s, const std::string& message, Expect e) {
  e.request = message[0];
  e.internal = true;
  count_outstanding(s, e.request);
  leg_send(s->server, message);
  s->tracker.expect(std::move(e));
}

void session_resume_call(Session* s) {
  uint32_t oid = 0;
  function_call_arguments(std::string_view(*s->pending_call).substr(5), nullptr, &oid);
  if (!s->function_names.contains(oid)) return;
  std::string raw = std::move(*s->pending_call);
  s->pending_call.reset();
  on_function_call(s, raw);
  client_pump(s);
}

void client_pump(Session* s) {
  if (s->ending || s->cstate != ClientState::ready) return;
  while (!s->waiting && !s->pending_call) {
    auto m = s->client.framer.next();
    if (!m) break;
    if (!on_request(s, *m)) return;
  }
  s->client.framer.compact();
  if (s->client.framer.error()) {
    session_end(s, "protocol_error", "client: " + s->client.framer.error()->what);
    return;
  }
  if (!leg_flush(s->server)) {
    session_end(s, "upstream_closed", "write to the upstream failed");
    return;
  }
  bool too_much = (s->waiting || s->pending_call) && s->client.framer.buffered() > kMaxBufferedWhileWaiting;
  if (s->server.in_flight > kHighWater || too_much) leg_stop_reading(s->client);
  else leg_start_reading(s->client);
}

void session_on_audit(Session* s, size_t index, const store::AppendResult& result) {
  if (s->ending || !s->waiting) return;
  Waiting& w = *s->waiting;
  if (result.ok()) w.seqs[index] = result.seq;
  else if (w.error.empty()) w.error = result.error;
  if (--w.remaining > 0) return;
  Waiting done = std::move(w);
  s->waiting.reset();
  if (!done.error.empty()) {
    log_event(LogLevel::error, "audit_write_failed", {{"session", s->id}, {"reason", done.error}});
    inject_refusal(s, done.expect.request == 'Q',
                   Refusal{"58030", "pgwarden: the audit store cannot be written, statement refused: " + done.error});
  } else if (done.held) {
    hold_for_approval(s, std::move(done));
    return;
  } else {
    done.expect.seqs = std::move(done.seqs);
    forward(s, done.raw, std::move(done.expect));
  }
  client_pump(s);
}

void session_on_approval(Worker* w, uint64_t uid, const Approval& a) {
  auto it = w->by_uid.find(uid);
  if (it == w->by_uid.end()) return;
  Session* s = it->second;
  if (s->ending || !s->waiting || s->waiting->approval_id != a.id) return;
  Waiting done = std::move(*s->waiting);
  s->waiting.reset();
  std::string approvers = join_names(a.approvers);
  directory_set_state(s->uid, "active", "");
  log_event(LogLevel::info, "approval_settled",
            {{"session", s->id}, {"id", std::to_string(a.id)}, {"state", a.state}, {"by", approvers}});
  if (a.state == "approved") {
    if (done.expect.request == 'P') {
      // The Parse runs nothing: its record is settled now, its Executes are recorded as approved.
      mark_prepared_approved(s, done.raw, approvers);
      store::Outcome o;
      o.seq = a.id;
      o.decision = "approved";
      o.approver = approvers;
      s->worker->runtime->store->append_outcome(o);
    } else {
      s->approved_by[a.id] = approvers;
      done.expect.seqs = std::move(done.seqs);
    }
    forward(s, done.raw, std::move(done.expect));
  } else {
    store::Outcome o;
    o.seq = a.id;
    o.decision = a.state;
    o.approver = approvers;
    o.sqlstate = "42501";
    o.error = a.state == "rejected" ? "rejected by " + approvers + (a.reason.empty() ? "" : ": " + a.reason)
                                    : "approval expired after " + format_duration(a.expires_us - a.requested_us);
    if (done.expect.request == 'P') forget_prepared(s, done.raw);
    s->worker->runtime->store->append_outcome(o);
    inject_refusal(s, done.expect.request == 'Q', Refusal{"42501", "pgwarden: " + o.error});
  }
  client_pump(s);
}

void approvals_tick(uv_timer_t*) { approvals_expire(wall_us()); }

}  // namespace pgw
