// parse(): one libpg_query parse of the whole string, then one walk per statement.
#include <simdjson.h>

#include <algorithm>

#include "sqlparse/facts.h"
#include "sqlparse/kinds.h"
#include "sqlparse/pg_query_calls.h"
#include "sqlparse/shape.h"
#include "sqlparse/walker.h"

namespace pgw::sql {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// The schema unqualified names resolve to. "$user" names a schema only where one exists for
// the session's role, which the text cannot tell, so resolution skips it as PostgreSQL skips
// a schema that does not exist.
std::string default_schema(const std::vector<std::string>& search_path) {
  for (const std::string& s : search_path)
    if (!s.empty() && s != "$user") return s;
  return "public";
}

// Sets the byte range of a statement from RawStmt's stmt_location/stmt_len (0: to the end),
// without the whitespace around it.
void set_range(StatementFacts& f, std::string_view sql, object raw) {
  size_t begin = std::min(static_cast<size_t>(member_int(raw, "stmt_location")), sql.size());
  int64_t len = member_int(raw, "stmt_len");
  size_t end = len > 0 ? std::min(begin + static_cast<size_t>(len), sql.size()) : sql.size();
  while (begin < end && is_space(sql[begin])) ++begin;
  while (end > begin && is_space(sql[end - 1])) --end;
  f.offset = begin;
  f.length = end - begin;
}

ParseResult failure(std::string message, int position) {
  ParseResult out;
  out.error = std::move(message);
  out.error_position = position;
  return out;
}

// True when everything the statement does is a SELECT, INSERT, UPDATE or DELETE.
bool only_dml(const StatementFacts& f) {
  return !f.commands.empty() && std::all_of(f.commands.begin(), f.commands.end(), [](const std::string& kind) {
    return kind == "select" || kind == "insert" || kind == "update" || kind == "delete";
  });
}

}  // namespace

ParseResult parse(std::string_view sql, const std::vector<std::string>& search_path, const ParseOptions& options) {
  if (size_t zero = sql.find('\0'); zero != std::string_view::npos)
    return failure("statement text contains a zero byte", static_cast<int>(zero) + 1);
  RawParse raw = raw_parse(std::string(sql));
  if (!raw.error.empty()) return failure(std::move(raw.error), byte_position(sql, raw.error_cursor));
  thread_local simdjson::dom::parser json_parser;
  element tree;
  if (json_parser.parse(raw.json).get(tree)) return failure("unreadable parse tree from libpg_query", 0);
  ParseResult out;
  object root;
  array stmts;
  if (tree.get(root) || root["stmts"].get(stmts)) return out;  // only comments or semicolons
  std::string schema = default_schema(search_path);
  for (element item : stmts) {
    object raw_stmt;
    element stmt;
    if (item.get(raw_stmt) || raw_stmt["stmt"].get(stmt)) continue;
    StatementFacts& f = out.statements.emplace_back();
    set_range(f, sql, raw_stmt);
    walk_statement(stmt, schema, f);
    std::string_view text = sql.substr(f.offset, f.length);
    if (options.fingerprint) f.fingerprint = only_dml(f) ? dml_fingerprint(text) : fingerprint(text);
    if (options.normalize) f.normalized = normalize(text);
    if (f.sets_search_path) schema = default_schema(*f.sets_search_path);  // for the statements after it
  }
  return out;
}

const std::vector<std::string>& known_commands() { return all_kinds(); }

}  // namespace pgw::sql
