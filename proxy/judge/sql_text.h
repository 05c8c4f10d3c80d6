// Quoting for the SQL text pgwarden itself writes: names and strings put into statements it sends
// upstream (a refusal's stand-in statement, catalog queries) or judges in place of a message that
// carries no SQL (a FunctionCall).
#pragma once

#include <string>
#include <string_view>

namespace pgw {

// `name` as a quoted SQL identifier.
std::string quote_ident(std::string_view name);
// `s` as an escape-string literal, whatever standard_conforming_strings says.
std::string sql_literal(std::string_view s);

}  // namespace pgw
