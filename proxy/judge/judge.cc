#include "proxy/judge/judge.h"

#include <algorithm>

#include "proxy/judge/parse_cache.h"

namespace pgw {
namespace {

// The facts a statement is judged by: `EXECUTE p` counts as what p was prepared as.
const sql::StatementFacts* prepared_facts(const SqlScope& scope, const sql::StatementFacts& f) {
  if (!f.executes) return nullptr;
  auto it = scope.prepared.find(*f.executes);
  if (it == scope.prepared.end() || it->second.statements.empty()) return nullptr;
  return &it->second.statements.front().facts;
}

sql::ParseResult parse(const JudgeContext& ctx, std::string_view text) {
  sql::ParseOptions options;
  options.normalize = ctx.normalize;
  const std::vector<std::string>& path = ctx.scope.search_path;
  return ctx.cache ? parse_cached(*ctx.cache, text, path, options) : sql::parse(text, path, options);
}

Judged unparsable(const JudgeContext& ctx, std::string_view text, const std::string& error) {
  Judged j;
  j.parse_failed = true;
  j.text = std::string(text);
  j.facts.command = "unknown";
  j.decision = rules::evaluate_parse_error(*ctx.rules, ctx.who, error);
  return j;
}

}  // namespace

bool refused(const rules::Decision& d) {
  return d.enforced && (d.action == rules::Action::deny || d.action == rules::Action::hold);
}

bool held(const rules::Decision& d) { return d.enforced && d.action == rules::Action::hold; }

std::vector<Judged> judge_text(const JudgeContext& ctx, std::string_view text) {
  sql::ParseResult parsed = parse(ctx, text);
  if (!parsed.ok()) return {unparsable(ctx, text, parsed.error)};
  std::vector<Judged> out;
  for (auto& f : parsed.statements) {
    Judged j;
    size_t from = std::min(f.offset, text.size());
    j.text = std::string(text.substr(from, f.length ? f.length : text.size() - from));
    const sql::StatementFacts* inner = prepared_facts(ctx.scope, f);
    j.decision = rules::evaluate(*ctx.rules, ctx.who, inner ? *inner : f, j.text);
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

void note_effects(SqlScope& scope, const Judged& j) {
  const sql::StatementFacts& f = j.facts;
  if (f.sets_search_path) scope.search_path = *f.sets_search_path;
  if (f.prepares) {
    Prepared p;
    Judged inner = j;
    inner.facts.prepares.reset();
    p.statements.push_back(std::move(inner));
    scope.prepared[*f.prepares] = std::move(p);
  }
  if (f.deallocates) {
    if (f.deallocates->empty()) scope.prepared.clear();
    else scope.prepared.erase(*f.deallocates);
  }
}

}  // namespace pgw
