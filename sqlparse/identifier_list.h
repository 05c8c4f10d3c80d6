// Identifier lists as PostgreSQL reads a search_path string ('app, "Sales", public').
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgw::sql {

// Splits a comma-separated identifier list the way PostgreSQL's SplitIdentifierString does:
// unquoted names fold to lower case, "quoted" ones stay exact ("" inside stands for "), blanks
// around names are dropped. Nothing when the list is malformed (PostgreSQL rejects it too).
std::optional<std::vector<std::string>> split_identifier_list(std::string_view text);

}  // namespace pgw::sql
