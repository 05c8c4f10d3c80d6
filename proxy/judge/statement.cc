#include "proxy/judge/statement.h"

#include <chrono>

#include "proxy/judge/parse_cache.h"
#include "proxy/session/session.h"
#include "proxy/wire/wire.h"

namespace pgw {

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sql_literal(std::string_view s) {
  std::string out = "E'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

namespace {

void json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out.push_back(';');
    out += s;
  }
  return out;
}

rules::Context context_of(Session* s) {
  return rules::Context{s->principal, s->job_id, s->database, s->client_addr};
}

// The facts a statement is judged by: `EXECUTE p` counts as what p was prepared as.
const sql::StatementFacts* prepared_facts(Session* s, const sql::StatementFacts& f) {
  if (!f.executes) return nullptr;
  auto it = s->sql_prepared.find(*f.executes);
  if (it == s->sql_prepared.end() || it->second.statements.empty()) return nullptr;
  return &it->second.statements.front().facts;
}

}  // namespace

bool refused(const rules::Decision& d) {
  return d.enforced && (d.action == rules::Action::deny || d.action == rules::Action::hold);
}

bool held(const rules::Decision& d) { return d.enforced && d.action == rules::Action::hold; }

std::vector<Judged> judge_text(Session* s, std::string_view text) {
  std::vector<Judged> out;
  rules::RuleSetPtr rules = s->worker->rules();
  rules::Context ctx = context_of(s);
  sql::ParseOptions options;
  options.normalize = s->shared->config->audit_normalized_text;  // the audit records that text
  sql::ParseResult parsed = parse_cached(text, s->search_path, options);
  if (!parsed.ok()) {
    Judged j;
    j.parse_failed = true;
    j.text = std::string(text);
    j.facts.command = "unknown";
    j.decision = rules::evaluate_parse_error(*rules, ctx, parsed.error);
    out.push_back(std::move(j));
    return out;
  }
  for (auto& f : parsed.statements) {
    Judged j;
    size_t from = std::min(f.offset, text.size());
    j.text = std::string(text.substr(from, f.length ? f.length : text.size() - from));
    const sql::StatementFacts* inner = prepared_facts(s, f);
    j.decision = rules::evaluate(*rules, ctx, inner ? *inner : f, j.text);
    j.facts = std::move(f);
    out.push_back(std::move(j));
  }
  return out;
}

Refusal refusal_of(const Judged& j) {
  const rules::Decision& d = j.decision;
  if (j.parse_failed) return {"42601", "pgwarden: " + d.message};
  if (d.rule.empty()) return {"42501", "pgwarden: denied by default: " + d.message};
  return {"42501", "pgwarden: denied by rule \"" + d.rule + "\": " + d.message};
}

namespace {

int64_t approval_timeout_us(Session* s, const Judged& j) {
  auto timeout = j.decision.timeout.value_or(s->shared->config->approval_timeout);
  return std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
}

}  // namespace

store::AuditRecord make_record(Session* s, const Judged& j, const char* protocol, std::string parameters) {
  store::AuditRecord r;
  r.ts_us = wall_us();
  r.principal = s->principal;
  r.attribution = s->attribution;
  r.job_id = s->job_id;
  r.commit = s->commit;
  r.session_id = s->id;
  r.client_addr = s->client_addr;
  r.database = s->database;
  r.upstream_role = s->upstream_role;
  if (const std::string* app = s->startup.get("application_name")) r.application_name = *app;
  r.protocol = protocol;
  r.command = j.facts.command;
  r.classes = joined(j.facts.classes);
  r.tables_read = joined(j.facts.tables_read);
  r.tables_written = joined(j.facts.tables_written);
  r.fingerprint = j.facts.fingerprint;
  bool normalized = s->shared->config->audit_normalized_text;
  r.statement = normalized && !j.facts.normalized.empty() ? j.facts.normalized : j.text;
  if (!normalized) r.parameters = std::move(parameters);
  r.decision = j.approved_by.empty() ? j.decision.audit_name() : "approved";
  r.approver = j.approved_by;
  r.rule = j.decision.rule;
  if (held(j.decision)) r.expires_us = r.ts_us + approval_timeout_us(s, j);
  return r;
}

namespace {

// One parameter value as the audit shows it: masked by the session's value masks (a binary
// value is tried as text: text types are sent as their bytes), else text as it is and binary as
// \x hex.
void append_parameter(std::string& out, std::string_view v, bool binary, const rules::SessionMasks* masks) {
  static const char* hex = "0123456789abcdef";
  std::string masked;
  int count = 0;
  if (masks && rules::mask_value(*masks, v, &masked, &count)) {
    json_string(out, masked);
  } else if (binary) {
    std::string h = "\\x";
    for (unsigned char c : v) {
      h.push_back(hex[c >> 4]);
      h.push_back(hex[c & 15]);
    }
    json_string(out, h);
  } else {
    json_string(out, v);
  }
}

// The format codes and values of a Bind or FunctionCall, read from `r`, as a JSON array of strings;
// empty when there are none.
std::string parameters_json(Reader& r, const rules::SessionMasks* masks) {
  int16_t nformats = r.i16();
  std::vector<int16_t> formats;
  for (int i = 0; i < nformats && r.ok(); ++i) formats.push_back(r.i16());
  int16_t nparams = r.i16();
  std::string out = "[";
  for (int i = 0; i < nparams && r.ok(); ++i) {
    int32_t len = r.i32();
    if (i) out.push_back(',');
    if (len < 0) {
      out += "null";
      continue;
    }
    std::string_view v = r.bytes(static_cast<size_t>(len));
    int16_t fmt = formats.empty() ? 0 : formats[formats.size() == 1 ? 0 : std::min<size_t>(i, formats.size() - 1)];
    append_parameter(out, v, fmt == 1, masks);
  }
  out.push_back(']');
  return nparams > 0 ? out : std::string();
}

}  // namespace

std::string bind_parameters_json(std::string_view body, const rules::SessionMasks* masks, std::string* portal,
                                 std::string* statement) {
  Reader r(body);
  *portal = std::string(r.cstr());
  *statement = std::string(r.cstr());
  return parameters_json(r, masks);
}

std::string function_call_arguments(std::string_view body, const rules::SessionMasks* masks, uint32_t* oid) {
  Reader r(body);
  *oid = static_cast<uint32_t>(r.i32());
  return parameters_json(r, masks);
}

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void note_effects(Session* s, const Judged& j) {
  const sql::StatementFacts& f = j.facts;
  if (f.sets_search_path) s->search_path = f.sets_search_path->empty() ? std::vector<std::string>{"public"} : *f.sets_search_path;
  if (f.prepares) {
    Prepared p;
    Judged inner = j;
    inner.facts.prepares.reset();
    p.statements.push_back(std::move(inner));
    s->sql_prepared[*f.prepares] = std::move(p);
  }
  if (f.deallocates) {
    if (f.deallocates->empty()) s->sql_prepared.clear();
    else s->sql_prepared.erase(*f.deallocates);
  }
}

}  // namespace pgw
