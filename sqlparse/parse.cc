// parse(): one libpg_query parse of the whole string, then one walk per statement, and whether
// a statement's facts hold for every text of its literal shape.
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

// Whether every literal of the statement `f` is the token of one of the `constants` (A_Const
// locations): found at the literal's first byte, or at a '-' before it with only whitespace
// between (the grammar locates a negated constant at its sign; -(5) or - -5 do not qualify). A
// literal the grammar makes no constant of may change the tree with its value: float(10) is
// float4 and float(30) float8, int[3] keeps its bound, and an int4 position (type modifiers,
// array bounds) refuses 99999999999, which the lexer reads as a numeric.
bool literals_are_constants(std::string_view sql, const StatementFacts& f, const std::vector<LiteralSpan>& literals,
                            std::vector<size_t> constants) {
  std::sort(constants.begin(), constants.end());
  auto constant_at = [&](size_t at) { return std::binary_search(constants.begin(), constants.end(), at); };
  for (const LiteralSpan& literal : literals) {
    if (literal.begin < f.offset || literal.begin >= f.offset + f.length || constant_at(literal.begin)) continue;
    size_t sign = literal.begin;
    while (sign > f.offset && is_space(sql[sign - 1])) --sign;
    if (sign == f.offset || sql[sign - 1] != '-' || !constant_at(sign - 1)) return false;
  }
  return true;
}

// Whether no fact of `f` is taken from a constant's value. The walk reads constants' values in
// these places only:
//  - walk_names.cc, set_config_path(): set_config('search_path', '<path>', ...) gives
//    sets_search_path from its first two arguments. Every call of set_config is kept out, so
//    that set_config('work_mem', ...) never stands for set_config('search_path', ...);
//  - walk_ddl.cc, search_path_values(): the values of SET search_path (a `set` statement);
//  - copy.cc, read_option(): COPY's options, for copy_to_stdout() (a copy statement).
// Everything else is names, keywords and the tree's structure: kinds.cc reads node types and
// enum fields, walk_named.cc LOCK's mode (a keyword), walk_ddl.cc the names of prepared
// statements and of what DDL works on.
bool reads_no_constant(const StatementFacts& f) {
  return std::find(f.functions.begin(), f.functions.end(), "set_config") == f.functions.end();
}

// Whether a data statement's facts hold for every text of its literal shape (ParseResult's
// shape_invariant), given that its literals are constants.
bool same_for_shape(const StatementFacts& f, const Constants& constants, const ParseOptions& options) {
  if (!only_dml(f) || !reads_no_constant(f)) return false;
  if (f.sets_search_path || f.prepares || f.executes || f.deallocates) return false;
  if (!options.normalize) return true;
  // pg_query_normalize keeps ORDER BY 1 but replaces ORDER BY 99999999999 (a numeric): its text
  // would depend on the value.
  if (!constants.positions.empty()) return false;
  // It replaces the constants it walks to; one it does not reach stays in the text.
  std::optional<std::string> normalized = literal_shape(f.normalized);
  return normalized && normalized->find(kLiteralMark) == std::string::npos;
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
  std::optional<std::vector<LiteralSpan>> literals;  // scanned for the first data statement
  bool scanned = false;
  bool first_same_for_shape = false;
  for (element item : stmts) {
    object raw_stmt;
    element stmt;
    if (item.get(raw_stmt) || raw_stmt["stmt"].get(stmt)) continue;
    StatementFacts& f = out.statements.emplace_back();
    set_range(f, sql, raw_stmt);
    Constants constants = walk_statement(stmt, schema, f);
    bool data = only_dml(f);
    if (data && !scanned) {
      literals = literal_spans(sql);
      scanned = true;
    }
    // A data statement whose literals are all constants: the fingerprint ignores their values.
    bool constant_literals = data && literals && literals_are_constants(sql, f, *literals, std::move(constants.all));
    std::string_view text = sql.substr(f.offset, f.length);
    if (options.fingerprint) f.fingerprint = constant_literals ? dml_fingerprint(text) : fingerprint(text);
    if (options.normalize) f.normalized = normalize(text);
    if (out.statements.size() == 1) first_same_for_shape = constant_literals && same_for_shape(f, constants, options);
    if (f.sets_search_path) schema = default_schema(*f.sets_search_path);  // for the statements after it
  }
  out.shape_invariant = out.statements.size() == 1 && first_same_for_shape;
  return out;
}

const std::vector<std::string>& known_commands() { return all_kinds(); }

}  // namespace pgw::sql
