// The admin console (SPEC section 8): a client that connects to the virtual database `pgwarden`
// as a principal listed in admin_users talks to pgwarden itself, in the simple protocol, with
// results as ordinary rows so psql shows tables.
#include <algorithm>
#include <cctype>
#include <chrono>

#include "proxy/runtime/approvals.h"
#include "proxy/wire/decimal.h"
#include "proxy/runtime/directory.h"
#include "proxy/runtime/log.h"
#include "proxy/session/session.h"
#include "proxy/wire/encoding.h"
#include "store/audit.h"

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

void show_approvals(Session* s) {
  std::vector<Row> rows;
  for (const auto& a : approvals_list(s->worker->runtime->approvals))
    rows.push_back({std::to_string(a.id), a.state, a.principal, a.job_id, a.rule, a.statement,
                    store::format_ts(a.requested_us), store::format_ts(a.expires_us), join(a.approvers, ";")});
  send_table(s, {"id", "state", "principal", "job_id", "rule", "statement", "requested_at", "expires_at", "approvers"},
             rows);
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

Refusal approval_refusal(const ApprovalError& e) {
  return {e.not_allowed ? "42501" : "22023", e.message};
}

bool parse_id(const std::string& w, int64_t* id) { return parse_decimal(w, id); }

// Runs one console command; returns its error (42601 for what is not a command, 42501 for an
// approval the principal may not give, 22023 for an unknown or settled id), or an empty
// sqlstate after sending its result.
Refusal run_command(Session* s, std::string_view line) {
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
  if (verb == "SHOW" && w.size() == 2 && what == "APPROVALS") show_approvals(s);
  else if (verb == "SHOW" && w.size() == 2 && what == "SESSIONS") show_sessions(s);
  else if (verb == "SHOW" && w.size() == 2 && what == "RULES") show_rules(s);
  else if (verb == "APPROVE" && w.size() == 2 && parse_id(w[1], &id)) {
    if (ApprovalError e = approvals_approve(s->worker->runtime->approvals, id, s->principal); !e.message.empty()) return approval_refusal(e);
    log_event(LogLevel::info, "approval_given", {{"id", w[1]}, {"approver", s->principal}});
    write_command_complete(s->client.out, "APPROVE");
  } else if (verb == "DENY" && (w.size() == 2 || w.size() == 3) && parse_id(w[1], &id)) {
    if (ApprovalError e = approvals_reject(s->worker->runtime->approvals, id, s->principal, w.size() == 3 ? w[2] : ""); !e.message.empty())
      return approval_refusal(e);
    log_event(LogLevel::info, "approval_denied", {{"id", w[1]}, {"approver", s->principal}});
    write_command_complete(s->client.out, "DENY");
  } else if (verb == "RELOAD" && w.size() == 1) {
    std::vector<std::string> errors;
    if (!reload_rules(s->worker->runtime, *s->shared->config, &errors)) return {"F0000", "reload failed: " + join(errors, ";")};
    write_command_complete(s->client.out, "RELOAD");
  } else {
    return {"42601", "unknown admin console command \"" + std::string(line) +
                         "\" (try SHOW APPROVALS, APPROVE id, DENY id 'reason', SHOW SESSIONS, SHOW RULES, RELOAD)"};
  }
  return {};
}

void on_console_query(Session* s, std::string_view text) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    std::string_view part = trim(text.substr(start, end == std::string_view::npos ? text.npos : end - start));
    if (!part.empty() || start == 0) {
      Refusal error = run_command(s, part);
      if (!error.sqlstate.empty()) {
        write_error(s->client.out, "ERROR", error.sqlstate.c_str(), "pgwarden: " + error.message);
        break;
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
  while (!s->ending) {
    auto m = s->client.framer.next();
    if (!m) break;
    if (m->type == 'X') {
      session_end(s, "client_terminated", "Terminate");
      return;
    }
    if (m->type == 'Q') {
      Reader r(m->body);
      on_console_query(s, r.cstr());
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
