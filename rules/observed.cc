// Recorded statements parsed again: observed_facts(), observed_context(), testable().
#include "rules/observed.h"

namespace pgw::rules {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += n + ";";
  return out;
}

// The facts of `text` when it is one statement that parses, resolving names against public.
std::optional<sql::StatementFacts> parse_one(const std::string& text) {
  sql::ParseResult parsed = sql::parse(text, {"public"});
  if (!parsed.ok() || parsed.statements.size() != 1) return std::nullopt;
  return std::move(parsed.statements[0]);
}

}  // namespace

Context observed_context(const ObservedStatement& o) {
  return Context{o.principal, o.job_id, o.database, o.client_addr};
}

const sql::StatementFacts* observed_facts(FactsCache* cache, const ObservedStatement& o) {
  std::string key = o.fingerprint + "|" + joined(o.tables_read) + "|" + joined(o.tables_written);
  auto found = cache->by_shape.find(key);
  if (found == cache->by_shape.end() || o.fingerprint.empty()) {
    std::optional<sql::StatementFacts> facts = parse_one(o.statement);
    if (facts) {
      facts->tables_read = o.tables_read;
      facts->tables_written = o.tables_written;
    }
    found = cache->by_shape.insert_or_assign(key, std::move(facts)).first;
  }
  return found->second ? &*found->second : nullptr;
}

bool testable(const ObservedStatement& o) {
  std::optional<sql::StatementFacts> facts = parse_one(o.statement);
  return facts && !facts->executes && facts->tables_read == o.tables_read &&
         facts->tables_written == o.tables_written;
}

}  // namespace pgw::rules
