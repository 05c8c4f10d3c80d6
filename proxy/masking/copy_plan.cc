// Reading a `COPY ... TO STDOUT` statement for masking: its format and options (delimiter,
// quote, escape, NULL marker, header), and where its fields come from (a table, a column list,
// or a query). sqlparse reads the statement again (copy_to_stdout); this happens only for COPY
// statements of masked sessions.
#include "proxy/masking/masking.h"
#include "sqlparse/facts.h"

namespace pgw {

namespace {

// The value of an option that is a single character (delimiter, quote, escape).
void set_char(const std::optional<std::string>& value, char* out) {
  if (value && value->size() == 1) *out = (*value)[0];
}

// The format the rows are written in, from the statement's options as given.
CopyFormat format_of(const sql::CopyToStdout& copy) {
  CopyFormat format = copy_format_defaults(copy.format == "csv");
  set_char(copy.delimiter, &format.delimiter);
  set_char(copy.quote, &format.quote);
  set_char(copy.escape, &format.escape);
  if (copy.null) format.null = *copy.null;
  if (format.csv && !copy.escape) format.escape = format.quote;
  return format;
}

}  // namespace

std::optional<CopyPlan> read_copy_plan(std::string_view statement, const std::vector<std::string>& tables_read) {
  std::optional<sql::CopyToStdout> copy = sql::copy_to_stdout(statement);
  if (!copy) return std::nullopt;
  CopyPlan plan;
  plan.format = format_of(*copy);
  plan.binary = copy->format == "binary";
  plan.header = copy->header;
  plan.reads = tables_read;
  if (copy->table && !tables_read.empty()) {
    plan.table = tables_read.front();
    for (const std::string& column : copy->columns) plan.columns.push_back(plan.table + "." + column);
  }
  return plan;
}

}  // namespace pgw
