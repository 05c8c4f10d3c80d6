// The admin console (SPEC section 8): a client that connects to the virtual database `pgwarden`
// as a principal listed in admin_users talks to pgwarden itself, in the simple protocol, with
// results as ordinary rows so psql shows tables.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <utility>

#include "proxy/runtime/approvals.h"
#include "proxy/wire/decimal.h"
#include "proxy/runtime/directory.h"
#include "proxy/runtime/log.h"
#include "proxy/runtime/metrics.h"
#include "proxy/session/session.h"
#include "proxy/wire/encoding.h"
#include "rules/glob.h"
#include "store/audit.h"
#include "store/shared_approvals.h"

namespace pgw {

namespace {

using Row = std::vector<std::optional<std::string>>;

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.front())) || s.front() == ';')) s.remove_prefix(1);
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == ';')) s.remove_suffix(1);
  return s;
}

// Splits a console line into words; a single-quoted word keeps its spaces ('' is a quote).
std::vector<std::string> words(std::string_view s, std::string* error) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    if (std::isspace(static_cast<unsigned char>(s[i]))) {
      ++i;
      continue;
    }
    std::string w;
    if (s[i] == '\'') {
      ++i;
      while (true) {
        if (i >= s.size()) {
          *error = "unterminated quoted string";
          return out;
        }
        if (s[i] == '\'' && i + 1 < s.size() && s[i + 1] == '\'') {
          w.push_back('\'');
          i += 2;
        } else if (s[i] == '\'') {
          ++i;
          break;
        } else {
          w.push_back(s[i++]);
        }
      }
    } else {
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) w.push_back(s[i++]);
    }
    out.push_back(std::move(w));
  }
  return out;
}

void send_table(Session* s, const std::vector<std::string>& columns, const std::vector<Row>& rows) {
  std::string out;
  write_row_description(out, columns);
  for (const auto& r : rows) write_data_row(out, r);
  write_command_complete(out, "SHOW");
  leg_send(s->client, out);
}

const std::vector<std::string> kApprovalColumns = {"id",        "state",        "principal",  "job_id",   "rule",
                                                   "statement", "requested_at", "expires_at", "approvers"};

Row approval_row(const Approval& a) {
  return {std::to_string(a.id), a.state, a.principal, a.job_id, a.rule, a.statement,
          store::format_ts(a.requested_us), store::format_ts(a.expires_us), join(a.approvers, ";")};
}

// A request as the shared store tells it, as the book would hold it: enough to judge an
// approver's word and to list it.
Approval from_store(const store::ApprovalRow& row) {
  Approval a;
  a.id = row.id;
  a.seq = row.seq;
  a.state = row.state;
  a.principal = row.principal;
  a.job_id = row.job_id;
  a.rule = row.rule;
  a.statement = row.statement;
  a.requested_us = row.requested_us;
  a.expires_us = row.expires_us;
  a.required = row.required;
  std::string error;
  for (std::string_view text : split(row.approver_globs, ';')) {
    rules::Glob g;
    if (compile_glob(text, rules::Folding::exact, &g, &error)) a.approver_globs.push_back(std::move(g));
  }
  for (std::string_view p : split(row.approvers, ';')) a.approvers.emplace_back(p);
  return a;
}

void run_commands(Session* s, std::string_view text, bool first);

// Runs `answer` on the console session `uid` of `w` once the shared store has answered (from its
// thread), then the rest of the session's query and the messages that came meanwhile.
void console_answer(Worker* w, uint64_t uid, std::function<Refusal(Session*)> answer) {
  worker_post(w, [w, uid, answer = std::move(answer)] {
    auto it = w->by_uid.find(uid);
    if (it == w->by_uid.end() || it->second->ending) return;
    Session* s = it->second;
    s->console_waiting = false;
    Refusal error = answer(s);
    if (!error.sqlstate.empty()) {
      write_error(s->client.out, "ERROR", error.sqlstate.c_str(), "pgwarden: " + error.message);
      write_ready(s->client.out, 'I');
    } else {
      run_commands(s, std::exchange(s->console_rest, {}), false);
    }
    console_on_input(s);
  });
}

// SHOW APPROVALS: the book's requests, and with a shared store every instance's (the book's word
// on its own requests is the latest).
void show_approvals(Session* s, bool* waiting) {
  std::vector<Approval> local = approvals_list(s->worker->runtime->approvals);
  store::SharedApprovals* shared = s->worker->runtime->shared_approvals.get();
  if (!shared) {
    std::vector<Row> rows;
    for (const auto& a : local) rows.push_back(approval_row(a));
    send_table(s, kApprovalColumns, rows);
    return;
  }
  *waiting = true;
  shared->list(false, [w = s->worker, uid = s->uid, local = std::move(local)](
                          std::vector<store::ApprovalRow> stored, std::string error) {
    console_answer(w, uid, [local, stored = std::move(stored), error](Session* s) -> Refusal {
      if (!error.empty()) return {"58030", "cannot read the shared approval requests: " + error};
      std::map<int64_t, Approval> all;
      for (const auto& row : stored) all[row.id] = from_store(row);
      for (const auto& a : local) all[a.id] = a;
      std::vector<Row> rows;
      for (const auto& [id, a] : all) rows.push_back(approval_row(a));
      send_table(s, kApprovalColumns, rows);
      return {};
    });
  });
}

void show_sessions(Session* s) {
  std::vector<Row> rows;
  for (const auto& i : session_directory(s->worker->runtime->sessions))
    rows.push_back({i.id, i.principal, i.job_id, i.commit, i.database, i.client_addr, i.state, i.statement});
  send_table(s, {"session_id", "principal", "job_id", "commit", "database", "client_addr", "state", "statement"},
             rows);
}

void show_rules(Session* s) {
  std::vector<Row> rows;
  for (const auto& r : rules::summarize(*s->worker->rules())) rows.push_back({r.name, r.action, r.match});
  send_table(s, {"name", "action", "match"}, rows);
}

// SHOW STATS: the counters /metrics exposes, one row per sample.
void show_stats(Session* s) {
  std::vector<Row> rows;
  for (auto& r : stat_rows(metric_families(read_metrics(*s->worker->runtime))))
    rows.push_back({std::move(r.name), std::move(r.labels), std::move(r.value)});
  send_table(s, {"name", "labels", "value"}, rows);
}

Refusal approval_refusal(const ApprovalError& e) {
  return {e.not_allowed ? "42501" : "22023", e.message};
}

bool parse_id(const std::string& w, int64_t* id) { return parse_decimal(w, id); }

// APPROVE id / DENY id 'reason': on a request in the book, at once; on one another instance holds
// (a shared store), once the vote is cast there.
Refusal decide(Session* s, int64_t id, bool approve, const std::string& reason, bool* waiting) {
  ApprovalBook& book = s->worker->runtime->approvals;
  ApprovalError e = approve ? approvals_approve(book, id, s->principal) : approvals_reject(book, id, s->principal, reason);
  const char* tag = approve ? "APPROVE" : "DENY";
  auto given = [tag, id, approve](Session* s) {
    log_event(LogLevel::info, approve ? "approval_given" : "approval_denied",
              {{"id", std::to_string(id)}, {"approver", s->principal}});
    write_command_complete(s->client.out, tag);
  };
  store::SharedApprovals* shared = s->worker->runtime->shared_approvals.get();
  if (e.message.empty()) {
    given(s);
    return {};
  }
  if (!e.unknown_id || !shared) return approval_refusal(e);
  *waiting = true;
  store::Vote vote;
  vote.approval_id = id;
  vote.verdict = approve ? "approve" : "reject";
  vote.principal = s->principal;
  vote.reason = reason;
  auto check = [principal = s->principal, approve](const store::ApprovalRow& row) {
    return approvals_check(from_store(row), principal, !approve).message;
  };
  shared->cast(std::move(vote), check, [w = s->worker, uid = s->uid, given](store::SharedApprovals::Cast cast) {
    console_answer(w, uid, [cast, given](Session* s) -> Refusal {
      if (cast.store_failed) return {"58030", "cannot cast the vote on the shared store: " + cast.error};
      if (!cast.error.empty()) return {cast.not_allowed ? "42501" : "22023", cast.error};
      given(s);
      return {};
    });
  });
  return {};
}

// Runs one console command; returns its error (42601 for what is not a command, 42501 for an
// approval the principal may not give, 22023 for an unknown or settled id), or an empty
// sqlstate after sending its result, or with `waiting` set once it waits for the shared store.
Refusal run_command(Session* s, std::string_view line, bool* waiting) {
  std::string error;
  std::vector<std::string> w = words(line, &error);
  if (!error.empty()) return {"42601", error};
  if (w.empty()) {
    write_empty_query(s->client.out);
    return {};
  }
  std::string verb = upper(w[0]);
  std::string what = w.size() > 1 ? upper(w[1]) : "";
  int64_t id = 0;
  if (verb == "SHOW" && w.size() == 2 && what == "APPROVALS") show_approvals(s, waiting);
  else if (verb == "SHOW" && w.size() == 2 && what == "SESSIONS") show_sessions(s);
  else if (verb == "SHOW" && w.size() == 2 && what == "RULES") show_rules(s);
  else if (verb == "SHOW" && w.size() == 2 && what == "STATS") show_stats(s);
  else if (verb == "APPROVE" && w.size() == 2 && parse_id(w[1], &id)) return decide(s, id, true, "", waiting);
  else if (verb == "DENY" && (w.size() == 2 || w.size() == 3) && parse_id(w[1], &id))
    return decide(s, id, false, w.size() == 3 ? w[2] : "", waiting);
  else if (verb == "RELOAD" && w.size() == 1) {
    std::vector<std::string> errors;
    if (!reload_rules(s->worker->runtime, *s->shared->config, &errors)) return {"F0000", "reload failed: " + join(errors, ";")};
    write_command_complete(s->client.out, "RELOAD");
  } else {
    return {"42601", "unknown admin console command \"" + std::string(line) +
                         "\" (try SHOW APPROVALS, APPROVE id, DENY id 'reason', SHOW SESSIONS, SHOW RULES, SHOW STATS, RELOAD)"};
  }
  return {};
}

// Runs the `;`-separated commands of `text` (the first of a query may be empty: an empty query),
// then says the console is ready; stops at the first error, or at a command that waits for the
// shared store, keeping the rest for when it has answered.
void run_commands(Session* s, std::string_view text, bool first) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    std::string_view part = trim(text.substr(start, end == std::string_view::npos ? text.npos : end - start));
    if (!part.empty() || (start == 0 && first)) {
      bool waiting = false;
      Refusal error = run_command(s, part, &waiting);
      if (!error.sqlstate.empty()) {
        write_error(s->client.out, "ERROR", error.sqlstate.c_str(), "pgwarden: " + error.message);
        break;
      }
      if (waiting) {
        s->console_waiting = true;
        s->console_rest = end == std::string_view::npos ? "" : std::string(text.substr(end + 1));
        return;
      }
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  write_ready(s->client.out, 'I');
}

}  // namespace

void console_start(Session* s) {
  static const std::pair<const char*, const char*> kParams[] = {
      {"server_version", "15.0 (pgwarden console)"}, {"server_encoding", "UTF8"}, {"client_encoding", "UTF8"},
      {"DateStyle", "ISO, MDY"}, {"integer_datetimes", "on"}, {"standard_conforming_strings", "on"},
      {"TimeZone", "UTC"}, {"IntervalStyle", "postgres"}, {"is_superuser", "off"}, {"application_name", ""}};
  std::string out;
  for (const auto& [k, v] : kParams) write_parameter_status(out, k, v);
  write_backend_key(out, static_cast<int32_t>(s->uid & 0x7fffffff) | 1, 0);
  write_ready(out, 'I');
  leg_send(s->client, out);
  leg_flush(s->client);
  s->cstate = ClientState::console;
  session_auth_done(s);
  log_event(LogLevel::info, "console_session", {{"session", s->id}, {"principal", s->principal}});
}

void console_on_input(Session* s) {
  while (!s->ending && !s->console_waiting) {
    auto m = s->client.framer.next();
    if (!m) break;
    if (m->type == 'X') {
      session_end(s, "client_terminated", "Terminate");
      return;
    }
    if (m->type == 'Q') {
      Reader r(m->body);
      run_commands(s, r.cstr(), true);
    } else if (m->type == 'S') {
      write_ready(s->client.out, 'I');
    } else if (m->type != 'H') {
      write_error(s->client.out, "ERROR", "0A000", "pgwarden: the admin console speaks only the simple query protocol");
    }
  }
  s->client.framer.compact();
  if (s->client.framer.error()) {
    session_end(s, "protocol_error", "client: " + s->client.framer.error()->what);
    return;
  }
  leg_flush(s->client);
}

}  // namespace pgw
