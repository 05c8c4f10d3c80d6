// Reading a `COPY ... TO STDOUT` statement for masking: its format and options (delimiter,
// quote, escape, NULL marker, header), and where its fields come from (a table, a column list,
// or a query). The statement is parsed again with libpg_query; this happens only for COPY
// statements of masked sessions.
#include "proxy/masking/masking.h"
#include "sqlparse/json.h"
#include "sqlparse/pg_query_calls.h"

namespace pgw {

namespace {

using sql::as_node;
using sql::element;
using sql::member;
using sql::member_list;
using sql::member_object;
using sql::object;

// The value of an option that is a single character (delimiter, quote, escape).
void set_char(std::string_view value, char* out) {
  if (value.size() == 1) *out = value[0];
}

// Whether a `header` option turns the header on: bare, a true Boolean, or a string/number.
bool header_on(std::optional<element> arg) {
  if (!arg) return true;
  if (auto b = as_node(*arg, "Boolean")) return sql::member_flag(*b, "boolval");
  if (auto i = as_node(*arg, "Integer")) return sql::member_int(*i, "ival") != 0;
  std::string_view v = sql::string_node(*arg);
  return v != "false" && v != "off" && v != "0";
}

void read_option(object def, CopyPlan* plan, bool* escape_given) {
  std::string_view name = sql::member_text(def, "defname");
  std::optional<element> arg = member(def, "arg");
  std::string_view value = arg ? sql::string_node(*arg) : std::string_view{};
  if (name == "format") {
    plan->binary = value == "binary";
    if (value == "csv") plan->format = copy_format_defaults(true);
  } else if (name == "delimiter") {
    set_char(value, &plan->format.delimiter);
  } else if (name == "quote") {
    set_char(value, &plan->format.quote);
  } else if (name == "escape") {
    set_char(value, &plan->format.escape);
    *escape_given = true;
  } else if (name == "null") {
    plan->format.null = std::string(value);
  } else if (name == "header") {
    plan->header = header_on(arg);
  }
}

}  // namespace

std::optional<CopyPlan> read_copy_plan(std::string_view statement, const std::vector<std::string>& tables_read) {
  sql::RawParse parsed = sql::raw_parse(std::string(statement));
  if (!parsed.error.empty()) return std::nullopt;
  simdjson::dom::parser parser;
  element root;
  if (parser.parse(parsed.json).get(root)) return std::nullopt;
  object top;
  if (root.get(top)) return std::nullopt;
  auto stmts = member_list(top, "stmts");
  if (!stmts || stmts->size() != 1) return std::nullopt;
  object raw;
  if ((*stmts->begin()).get(raw)) return std::nullopt;
  auto stmt = member(raw, "stmt");
  std::optional<object> copy = stmt ? as_node(*stmt, "CopyStmt") : std::nullopt;
  if (!copy || sql::member_flag(*copy, "is_from") || member(*copy, "filename")) return std::nullopt;
  CopyPlan plan;
  plan.reads = tables_read;
  bool escape_given = false;
  // A format option may come after the others (old syntax: DELIMITER ',' CSV): read it first.
  if (auto options = member_list(*copy, "options")) {
    for (element e : *options) {
      auto def = as_node(e, "DefElem");
      if (def && sql::member_text(*def, "defname") == "format") read_option(*def, &plan, &escape_given);
    }
    for (element e : *options) {
      auto def = as_node(e, "DefElem");
      if (def && sql::member_text(*def, "defname") != "format") read_option(*def, &plan, &escape_given);
    }
  }
  if (plan.format.csv && !escape_given) plan.format.escape = plan.format.quote;
  if (member_object(*copy, "relation") && !tables_read.empty()) {
    plan.table = tables_read.front();
    if (auto columns = member_list(*copy, "attlist")) {
      for (element e : *columns) plan.columns.push_back(plan.table + "." + std::string(sql::string_node(e)));
    }
  }
  return plan;
}

}  // namespace pgw
