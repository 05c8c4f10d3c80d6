// copy_to_stdout(): the options and the source of a `COPY ... TO STDOUT`, read from its parse
// tree, so that the proxy can read and rewrite the rows it sends without knowing libpg_query.
#include "sqlparse/facts.h"
#include "sqlparse/json.h"
#include "sqlparse/pg_query_calls.h"

namespace pgw::sql {

namespace {

// Whether a `header` option turns the header on: bare, a true Boolean, or a string/number.
bool header_on(std::optional<element> arg) {
  if (!arg) return true;
  if (auto b = as_node(*arg, "Boolean")) return member_flag(*b, "boolval");
  if (auto i = as_node(*arg, "Integer")) return member_int(*i, "ival") != 0;
  std::string_view v = string_node(*arg);
  return v != "false" && v != "off" && v != "0";
}

void read_option(object def, CopyToStdout* copy) {
  std::string_view name = member_text(def, "defname");
  std::optional<element> arg = member(def, "arg");
  std::string value(arg ? string_node(*arg) : std::string_view{});
  if (name == "format") copy->format = value;
  else if (name == "delimiter") copy->delimiter = value;
  else if (name == "quote") copy->quote = value;
  else if (name == "escape") copy->escape = value;
  else if (name == "null") copy->null = value;
  else if (name == "header") copy->header = header_on(arg);
}

// The CopyStmt of a parse tree that holds exactly one statement, a COPY TO STDOUT.
std::optional<object> copy_statement(element root) {
  object top;
  if (root.get(top)) return std::nullopt;
  auto stmts = member_list(top, "stmts");
  if (!stmts || stmts->size() != 1) return std::nullopt;
  object raw;
  if ((*stmts->begin()).get(raw)) return std::nullopt;
  auto stmt = member(raw, "stmt");
  std::optional<object> copy = stmt ? as_node(*stmt, "CopyStmt") : std::nullopt;
  if (!copy || member_flag(*copy, "is_from") || member(*copy, "filename")) return std::nullopt;
  return copy;
}

}  // namespace

std::optional<CopyToStdout> copy_to_stdout(std::string_view statement) {
  RawParse parsed = raw_parse(std::string(statement));
  if (!parsed.error.empty()) return std::nullopt;
  simdjson::dom::parser parser;
  element root;
  if (parser.parse(parsed.json).get(root)) return std::nullopt;
  std::optional<object> stmt = copy_statement(root);
  if (!stmt) return std::nullopt;
  CopyToStdout copy;
  if (auto options = member_list(*stmt, "options")) {
    for (element e : *options) {
      if (auto def = as_node(e, "DefElem")) read_option(*def, &copy);
    }
  }
  copy.table = member_object(*stmt, "relation").has_value();
  if (auto columns = member_list(*stmt, "attlist")) {
    for (element e : *columns) copy.columns.emplace_back(string_node(e));
  }
  return copy;
}

}  // namespace pgw::sql
