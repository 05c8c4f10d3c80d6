// The client's requests once the session is ready: each statement is judged before it is
// forwarded, its audit record is committed first (the request waits, the loop does not), and a
// refused statement is replaced upstream by one that fails with the same effect on the
// transaction, so the server's transaction state stays the authority (see inject_refusal).
#include <algorithm>

#include "proxy/judge/parameters.h"
#include "proxy/judge/record.h"
#include "proxy/judge/sql_text.h"
#include "proxy/runtime/approvals.h"
#include "proxy/runtime/clock.h"
#include "proxy/runtime/directory.h"
#include "proxy/runtime/log.h"
#include "proxy/session/session.h"
#include "proxy/wire/encoding.h"
#include "proxy/wire/frontend.h"

namespace pgw {

namespace {

// A client that keeps sending while a request waits is not read past this much buffered input.
constexpr size_t kMaxBufferedWhileWaiting = 1 << 20;

// The outcome of a statement whose record was committed but that was never forwarded.
constexpr const char* kSessionEndedBeforeForward = "not executed: the session ended before it was forwarded";
// The outcome of the records of a held Parse's other statements once it is approved: a Parse
// runs nothing (the server refuses one of several statements), its Executes have their own records.
constexpr const char* kParseRunsNothing = "not executed: recorded at Parse; its Executes are recorded";
// The outcome of the other statements of a request that was refused.
constexpr const char* kAnotherRefused = "not executed: another statement of the same request was refused";

// What the session's statements are judged in now.
JudgeContext judge_context(Session* s) {
  return JudgeContext{.rules = s->worker->rules(),
                      .who = rules::Context{s->principal, s->job_id, s->database, s->client_addr},
                      .scope = s->sql_scope,
                      .normalize = s->shared->config->audit_normalized_text,
                      .cache = s->worker->parse_cache.get()};
}

// The session as its audit records name it.
AuditedSession audited_session(Session* s) {
  if (!s->audit_session) {
    const std::string* app = s->startup.get("application_name");
    s->audit_session = std::make_shared<const store::SessionRecord>(
        store::SessionRecord{.principal = s->principal,
                             .attribution = s->attribution,
                             .job_id = s->job_id,
                             .commit = s->commit,
                             .session_id = s->id,
                             .client_addr = s->client_addr,
                             .database = s->database,
                             .upstream_role = s->upstream_role,
                             .application_name = app ? *app : std::string()});
  }
  return AuditedSession{.record = s->audit_session,
                        .normalized_text = s->shared->config->audit_normalized_text,
                        .approval_timeout = s->shared->config->approval_timeout};
}

store::Outcome not_run_outcome(int64_t seq, const char* why) {
  store::Outcome o;
  o.seq = seq;
  o.error = why;
  return o;
}

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

// Records a statement that did not run, with its outcome, without waiting for the commit.
void record_not_run(Session* s, const Judged& j, const char* protocol, std::string parameters,
                    const std::string& sqlstate, const std::string& why) {
  store::Outcome o;
  o.sqlstate = sqlstate;
  o.error = why;
  if (held(j.decision) && j.approved_by.empty()) o.decision = "withdrawn";  // never put to a human
  Worker* w = s->worker;
  store::AuditRecord record = make_record(audited_session(s), j, protocol, std::move(parameters), wall_us());
  audit_append(w, std::move(record), [w, o](store::AppendResult r) mutable {
    if (!r.ok()) return;
    o.seq = r.seq;
    worker_run(w, [w, o] { audit_outcome(w, o); });
  });
}

// Outcomes for records already committed whose statements will not run.
void settle_seqs(Session* s, const std::vector<int64_t>& seqs, const char* why) {
  for (int64_t seq : seqs) {
    if (seq != 0) audit_outcome(s->worker, not_run_outcome(seq, why));
  }
}

// Whether the server ignores this request while it skips to Sync: everything but Sync itself
// (and messages pgwarden forwards without expecting a reply, such as Flush and COPY data).
bool skipped_by_server(char request) { return request != 0 && request != 'S'; }

// Sends a request upstream and expects its replies. While the server skips to Sync nothing but
// Sync is sent: a statement already recorded is settled as not executed, and what a skipped
// Parse, Bind or Close would change stays in the expected view only until the Sync.
void forward(Session* s, std::string_view raw, Expect e) {
  MirroredObjects& objects = s->protocol_objects;
  if (s->tracker.skipping && skipped_by_server(e.request)) {
    apply_change(objects.expected, e);
    std::vector<Finished> done;
    s->tracker.skip(e, monotonic_us(), &done);
    record_outcomes(s, done);
    return;
  }
  bool ends_skip = s->tracker.skipping && e.request == 'S';
  masking_before_forward(s->masking, *s, raw, e);
  apply_change(objects.expected, e);
  count_outstanding(s, e.request);
  e.started_us = monotonic_us();
  leg_send(s->server, raw);
  if (e.request) s->tracker.expect(std::move(e));
  if (ends_skip) rebuild_expected(objects, s->tracker.pending);
}

// Refuses the request being handled: the server runs a stand-in statement that fails, and the
// client gets pgwarden's ErrorResponse in place of the server's. `simple` is a Query or a
// FunctionCall; otherwise the extended protocol, where the client's messages up to Sync are then
// dropped.
void inject_refusal(Session* s, bool simple, const Refusal& refusal) {
  std::string stmt = failing_statement(refusal);
  std::string error;
  write_error(error, "ERROR", refusal.sqlstate, refusal.message);
  std::string out;
  Expect e;
  e.injected = true;
  // Whichever stand-in request fails carries the refusal: in an aborted transaction, the Parse.
  e.error = error;
  if (simple) {
    Writer(out).begin('Q').cstr(stmt).end();
    e.request = 'Q';
    forward(s, out, e);
    return;
  }
  Writer(out).begin('P').cstr("").cstr(stmt).i16(0).end();
  e.request = 'P';
  e.statement = "";
  forward(s, out, e);
  out.clear();
  Writer(out).begin('B').cstr("").cstr("").i16(0).i16(0).i16(0).end();
  e.request = 'B';
  e.portal = "";
  forward(s, out, e);
  out.clear();
  Writer(out).begin('E').cstr("").i32(0).end();
  e.request = 'E';
  e.portal = "";
  forward(s, out, e);
  s->tracker.skip_after_refusal();
}

// A Query or a FunctionCall: answered with ReadyForQuery, so refused as a simple query is.
bool answered_by_ready(char request) { return request == 'Q' || request == 'F'; }

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

// Refuses every statement of `judged` (one of them was refused by the rules).
void refuse_all(Session* s, const std::vector<Judged>& judged, bool simple, const char* protocol) {
  const Judged* culprit = &*std::find_if(judged.begin(), judged.end(), denied);
  Refusal refusal = refusal_of(*culprit);
  for (const auto& j : judged) {
    if (&j == culprit) record_not_run(s, j, protocol, "", refusal.sqlstate, refusal.message);
    else record_not_run(s, j, protocol, "", "", kAnotherRefused);
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
  AuditedSession session = audited_session(s);
  for (const auto& j : judged) records.push_back(make_record(session, j, protocol, parameters, wall_us()));
  if (w.held) {
    w.requested_us = records[w.held_index].ts_us;
    w.expires_us = records[w.held_index].expires_us;
  }
  w.judged = std::move(judged);
  s->waiting = std::move(w);
  for (size_t i = 0; i < records.size(); ++i) {
    audit_append(worker, std::move(records[i]), [worker, uid, i, queued_us = monotonic_us()](store::AppendResult r) {
      worker->stats->audit_commit_latency.observe(monotonic_us() - queued_us);
      worker_run(worker, [worker, uid, i, r] {
        auto it = worker->by_uid.find(uid);
        if (it != worker->by_uid.end() && !it->second->ending) session_on_audit(it->second, i, r);
        else if (r.ok()) audit_outcome(worker, not_run_outcome(r.seq, kSessionEndedBeforeForward));
      });
    });
  }
}

// Each on_* handles one client message; false when it is malformed.
bool on_query(Session* s, const Message& m) {
  std::string_view text;
  if (!decode_query(m.body, &text)) return false;
  std::vector<Judged> judged = judge_text(judge_context(s), text);
  Expect e;
  e.request = 'Q';
  if (judged.empty()) {
    forward(s, m.raw, e);
    return true;
  }
  directory_set_state(s->worker->runtime->sessions, s->uid, "active", text);
  masking_check(s->masking, *s, judged);
  masking_plan(s->masking, judged, &e);
  if (any_denied(judged)) {
    refuse_all(s, judged, true, "simple");
    return true;
  }
  for (const auto& j : judged) note_effects(s->sql_scope, j);
  submit(s, m.raw, std::move(e), std::move(judged), "simple", "");
  return true;
}

bool on_parse(Session* s, const Message& m) {
  ParseView parse;
  if (!decode_parse(m.body, &parse)) return false;
  std::string name(parse.statement);
  std::string_view text = parse.query;
  auto p = std::make_shared<Prepared>();
  p->statements = judge_text(judge_context(s), text);
  directory_set_state(s->worker->runtime->sessions, s->uid, "active", text);
  masking_check(s->masking, *s, p->statements);
  Expect e;
  e.request = 'P';
  e.statement = name;
  if (s->tracker.skipping) {
    // The server skips this Parse: nothing is refused or held; its Executes are recorded as skipped.
    e.prepares = std::move(p);
    forward(s, m.raw, std::move(e));
    return true;
  }
  if (any_denied(p->statements)) {
    refuse_all(s, p->statements, false, "extended");
    return true;
  }
  std::vector<Judged> judged = p->statements;
  e.prepares = std::move(p);
  if (first_held(judged) < judged.size()) {
    // The Parse itself waits for approval; the statement is known once it is approved.
    submit(s, m.raw, std::move(e), std::move(judged), "extended", "");
    return true;
  }
  forward(s, m.raw, std::move(e));
  return true;
}

// A prepared statement by name, as the server will hold it: one the extended protocol made, or an
// SQL PREPARE; nullptr if pgwarden knows none.
std::shared_ptr<const Prepared> find_prepared(Session* s, const std::string& name) {
  const auto& statements = s->protocol_objects.expected.statements;
  if (auto it = statements.find(name); it != statements.end()) return it->second;
  auto sql = s->sql_scope.prepared.find(name);
  return sql != s->sql_scope.prepared.end() ? std::make_shared<const Prepared>(sql->second) : nullptr;
}

bool on_bind(Session* s, const Message& m) {
  BindView bind;
  if (!decode_bind(m.body, &bind)) return false;
  auto bound = std::make_shared<Portal>();
  bound->parameters = parameters_json(bind.parameters, s->masking.masks.get());
  bound->statement = find_prepared(s, std::string(bind.statement));
  Expect e;
  e.request = 'B';
  e.statement = std::string(bind.statement);
  e.portal = std::string(bind.portal);
  e.binds = std::move(bound);
  forward(s, m.raw, std::move(e));
  return true;
}

// The statement a portal runs, and the portal; nullptr when pgwarden does not know them (the
// server reports the missing portal or statement itself).
const Judged* executed_statement(Session* s, std::string_view portal_name, const Portal** portal) {
  const auto& portals = s->protocol_objects.expected.portals;
  auto it = portals.find(std::string(portal_name));
  if (it == portals.end() || !it->second->statement || it->second->statement->statements.empty()) return nullptr;
  *portal = it->second.get();
  return &it->second->statement->statements.front();
}

bool on_execute(Session* s, const Message& m) {
  ExecuteView execute;
  if (!decode_execute(m.body, &execute)) return false;
  Expect e;
  e.request = 'E';
  e.portal = std::string(execute.portal);
  const Portal* portal = nullptr;
  const Judged* j = executed_statement(s, execute.portal, &portal);
  if (!j) {
    forward(s, m.raw, e);
    return true;
  }
  std::vector<Judged> judged{*j};
  for (const auto& one : judged) note_effects(s->sql_scope, one);
  masking_plan(s->masking, judged, &e);
  submit(s, m.raw, std::move(e), std::move(judged), "extended", portal->parameters);
  return true;
}

// A Describe or a Close names a prepared statement or a portal.
bool on_target(Session* s, const Message& m) {
  TargetView target;
  if (!decode_target(m.body, &target)) return false;
  Expect e;
  e.request = m.type;
  if (target.portal()) e.portal = std::string(target.name);
  else e.statement = std::string(target.name);
  forward(s, m.raw, std::move(e));
  return true;
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

// A FunctionCall as the same call in SQL, for judging: by the function's name, or for an OID the
// catalog does not know (or not yet looked up), as a call of a function named by that number.
std::string function_call_sql(Session* s, uint32_t oid) {
  auto name = s->function_names.find(oid);
  bool known = name != s->function_names.end() && !name->second.empty();
  return "SELECT " + (known ? name->second : quote_ident(std::to_string(oid))) + "()";
}

// A FunctionCall (the fast-path interface of libpq's large-object functions) is judged as the
// same call in SQL, once the function's name is known.
bool on_function_call(Session* s, std::string_view raw) {
  FunctionCallView call;
  if (!decode_function_call(raw.substr(5), &call)) return false;
  uint32_t oid = call.function_oid;
  if (!s->function_names.contains(oid)) {
    s->pending_call = PendingCall{std::string(raw), oid};
    lookup_function(s, oid);
    return true;
  }
  std::string sql = function_call_sql(s, oid);
  std::vector<Judged> judged = judge_text(judge_context(s), sql);
  directory_set_state(s->worker->runtime->sessions, s->uid, "active", sql);
  if (any_denied(judged)) {
    refuse_all(s, judged, true, "function_call");
    return true;
  }
  Expect e;
  e.request = 'F';
  submit(s, raw, std::move(e), std::move(judged), "function_call", parameters_json(call.arguments, s->masking.masks.get()));
  return true;
}

// A request while the server skips to Sync: nothing is sent, since the server would ignore it,
// and what it would have run is judged and recorded as not executed, as the server's own skip of
// an already forwarded request is.
bool on_skipped(Session* s, const Message& m) {
  std::vector<Judged> judged;
  const char* protocol = m.type == 'Q' ? "simple" : m.type == 'F' ? "function_call" : "extended";
  std::string parameters;
  std::string_view text;
  ExecuteView execute;
  FunctionCallView call;
  if (m.type == 'Q') {
    if (!decode_query(m.body, &text)) return false;
    judged = judge_text(judge_context(s), text);
  } else if (m.type == 'E') {
    if (!decode_execute(m.body, &execute)) return false;
    const Portal* portal = nullptr;
    if (const Judged* j = executed_statement(s, execute.portal, &portal)) {
      judged.push_back(*j);
      parameters = portal->parameters;
    }
  } else if (m.type == 'F') {
    if (!decode_function_call(m.body, &call)) return false;
    parameters = parameters_json(call.arguments, s->masking.masks.get());
    judged = judge_text(judge_context(s), function_call_sql(s, call.function_oid));
  }
  for (const auto& j : judged) record_not_run(s, j, protocol, parameters, "", kSkippedToSync);
  return true;
}

// Handles one client message; false when the session ended.
bool on_request(Session* s, const Message& m) {
  if (m.type == 'X') {
    leg_flush(s->server);
    session_end(s, "client_terminated", "Terminate");
    return false;
  }
  bool well_formed = true;
  Expect e;
  if (s->tracker.skipping && (m.type == 'Q' || m.type == 'E' || m.type == 'F')) {
    well_formed = on_skipped(s, m);
  } else {
    switch (m.type) {
      case 'Q': well_formed = on_query(s, m); break;
      case 'P': well_formed = on_parse(s, m); break;
      case 'B': well_formed = on_bind(s, m); break;
      case 'E': well_formed = on_execute(s, m); break;
      case 'C':
      case 'D': well_formed = on_target(s, m); break;
      case 'F': well_formed = on_function_call(s, m.raw); break;
      case 'S':
        e.request = m.type;
        forward(s, m.raw, e);
        break;
      case 'c':
      case 'f':
        s->tracker.client_copy_end();
        forward(s, m.raw, e);
        break;
      default:
        forward(s, m.raw, e);
    }
  }
  if (well_formed) return true;
  session_fatal(s, "08P01", std::string("pgwarden: malformed message of type '") + m.type + "'", "protocol_error");
  return false;
}

std::string format_duration(int64_t us) {
  if (us % 1000000 != 0) return std::to_string(us / 1000) + "ms";
  int64_t secs = us / 1000000;
  if (secs % 3600 == 0 && secs > 0) return std::to_string(secs / 3600) + "h";
  if (secs % 60 == 0 && secs > 0) return std::to_string(secs / 60) + "m";
  return std::to_string(secs) + "s";
}

// An approved Parse prepares its statements as approved: their Executes are recorded so.
void mark_prepared_approved(Expect& parse, const std::string& approvers) {
  auto approved = std::make_shared<Prepared>(*parse.prepares);
  for (auto& j : approved->statements) j.approved_by = approvers;
  parse.prepares = std::move(approved);
}

// The held statement's approval is settled: it runs, or is refused with the reason.
void on_approval_settled(Worker* w, uint64_t uid, const Approval& a) {
  auto it = w->by_uid.find(uid);
  if (it == w->by_uid.end()) return;
  Session* s = it->second;
  if (s->ending || !s->waiting || s->waiting->approval_id != a.id) return;
  Waiting done = std::move(*s->waiting);
  s->waiting.reset();
  std::string approvers = join(a.approvers, ";");
  directory_set_state(s->worker->runtime->sessions, s->uid, "active", "");
  log_event(LogLevel::info, "approval_settled",
            {{"session", s->id}, {"id", std::to_string(a.id)}, {"state", a.state}, {"by", approvers}});
  if (a.state == "approved") {
    if (done.expect.request == 'P') {
      // The Parse runs nothing: its record is settled now, its Executes are recorded as approved.
      mark_prepared_approved(done.expect, approvers);
      store::Outcome o;
      o.seq = a.seq;
      o.decision = "approved";
      o.approver = approvers;
      audit_outcome(s->worker, o);
      std::erase(done.seqs, a.seq);
      settle_seqs(s, done.seqs, kParseRunsNothing);
    } else {
      s->approved_by[a.seq] = approvers;
      done.expect.seqs = std::move(done.seqs);
    }
    forward(s, done.raw, std::move(done.expect));
  } else {
    store::Outcome o;
    o.seq = a.seq;
    o.decision = a.state;
    o.approver = approvers;
    o.sqlstate = "42501";
    o.error = a.state == "rejected"    ? "rejected by " + approvers + (a.reason.empty() ? "" : ": " + a.reason)
              : a.state == "withdrawn" ? "withdrawn: " + a.reason
                                       : "approval expired after " + format_duration(a.expires_us - a.requested_us);
    audit_outcome(s->worker, o);
    std::erase(done.seqs, a.seq);
    settle_seqs(s, done.seqs, kAnotherRefused);
    inject_refusal(s, answered_by_ready(done.expect.request), Refusal{"42501", "pgwarden: " + o.error});
  }
  client_pump(s);
}

// The held statement's record is committed: its seq becomes the approval id, the client is told
// how to approve it, and the request waits in the book until someone decides.
void hold_for_approval(Session* s, Waiting w) {
  const Judged& j = w.judged[w.held_index];
  Approval a;
  a.id = w.store_approval_id;
  a.seq = w.seqs[w.held_index];
  a.principal = s->principal;
  a.job_id = s->job_id;
  a.commit = s->commit;
  a.rule = j.decision.rule;
  a.statement = j.text;
  a.audited_statement = audited_statement(j, s->shared->config->audit_normalized_text);
  a.requested_us = w.requested_us;
  a.expires_us = w.expires_us;
  a.approver_globs = j.decision.approvers;
  a.required = std::max(1, j.decision.approvals_required);
  a.worker = s->worker;
  a.settled = [w = s->worker, uid = s->uid](const Approval& settled) { on_approval_settled(w, uid, settled); };
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
  directory_set_state(s->worker->runtime->sessions, s->uid, "held", j.text);
  s->waiting = std::move(w);
  approvals_add(s->worker->runtime->approvals, std::move(a));
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
  if (!s->function_names.contains(s->pending_call->function_oid) && !s->tracker.skipping) return;
  std::string raw = std::move(s->pending_call->raw);
  uint32_t oid = s->pending_call->function_oid;
  bool lookup_failed = s->pending_call->lookup_failed;
  s->pending_call.reset();
  if (s->tracker.skipping) on_skipped(s, Message{'F', std::string_view(raw).substr(5), raw});
  else on_function_call(s, raw);
  if (lookup_failed) s->function_names.erase(oid);
  client_pump(s);
}

void session_resume_held(Session* s) {
  if (!s->waiting || !s->waiting->awaiting_earlier) return;
  if (!s->tracker.pending.empty() && !s->tracker.skipping) return;
  Waiting w = std::move(*s->waiting);
  s->waiting.reset();
  w.awaiting_earlier = false;
  if (!s->tracker.skipping) {
    hold_for_approval(s, std::move(w));
    return;
  }
  // The server skips it: nobody is asked, the request is withdrawn.
  for (size_t i = 0; i < w.seqs.size(); ++i) {
    store::Outcome o = not_run_outcome(w.seqs[i], kSkippedToSync);
    if (i == w.held_index) o.decision = "withdrawn";
    audit_outcome(s->worker, o);
  }
  apply_change(s->protocol_objects.expected, w.expect);
  client_pump(s);
}

void record_outcomes(Session* s, std::vector<Finished>& done) {
  for (auto& f : done) {
    if (f.seq == 0) continue;
    s->worker->stats->statement_latency.observe(f.duration_us);
    store::Outcome o;
    o.seq = f.seq;
    o.rows = f.rows;
    o.sqlstate = std::move(f.sqlstate);
    o.error = std::move(f.error);
    o.duration_ms = static_cast<double>(f.duration_us) / 1000.0;
    o.masked_values = f.masked_values;
    if (auto it = s->approved_by.find(f.seq); it != s->approved_by.end()) {
      o.decision = "approved";
      o.approver = std::move(it->second);
      s->approved_by.erase(it);
    }
    audit_outcome(s->worker, std::move(o));
  }
  done.clear();
}

void settle_at_end(Session* s, bool upstream_lost, const std::string& reason) {
  std::string why = upstream_lost ? "the connection to the server was lost before it answered: " + reason
                                  : "outcome unknown: the session ended before the server answered (" + reason + ")";
  std::vector<Finished> done;
  s->tracker.abandon(upstream_lost ? "08006" : "", why, monotonic_us(), &done);
  record_outcomes(s, done);
  if (!s->waiting) return;
  std::vector<int64_t> unsent = s->waiting->seqs;
  if (s->waiting->approval_id) std::erase(unsent, s->waiting->seqs[s->waiting->held_index]);
  settle_seqs(s, unsent, kSessionEndedBeforeForward);
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
    session_fatal(s, "08P01", "pgwarden: " + s->client.framer.error()->what, "protocol_error");
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
  if (result.ok()) {
    w.seqs[index] = result.seq;
    if (w.held && index == w.held_index) w.store_approval_id = result.approval_id;
  } else if (w.error.empty()) w.error = result.error;
  if (--w.remaining > 0) return;
  Waiting done = std::move(w);
  s->waiting.reset();
  if (!done.error.empty()) {
    log_event(LogLevel::error, "audit_write_failed", {{"session", s->id}, {"reason", done.error}});
    inject_refusal(s, answered_by_ready(done.expect.request),
                   Refusal{"58030", "pgwarden: the audit store cannot be written, statement refused: " + done.error});
  } else if (done.held && !s->tracker.pending.empty()) {
    // Flush makes the server answer what it has; an error among the answers means a skip.
    std::string flush;
    Writer(flush).begin('H').end();
    leg_send(s->server, flush);
    leg_flush(s->server);
    done.awaiting_earlier = true;
    s->waiting = std::move(done);
    return;
  } else if (done.held) {
    hold_for_approval(s, std::move(done));
    return;
  } else {
    done.expect.seqs = std::move(done.seqs);
    forward(s, done.raw, std::move(done.expect));
  }
  client_pump(s);
}



}  // namespace pgw
