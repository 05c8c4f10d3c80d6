// Globs over qualified SQL names: `schema.table` for tables, `schema.table.column` for
// columns. A glob written with fewer parts is taken as matching those names in any schema
// (and any table): `users` means `*.users`, `users.email` means `*.users.email`. A DBA who
// names a table without a schema means that table wherever the session's search_path put it,
// and a deny rule must not be escaped by creating the same table in another schema.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rules/glob.h"

namespace pgw::rules {

// A qualified-name glob: the whole name, and each dot-separated part for names that the
// statement could only partly qualify.
struct QualifiedGlob {
  Glob whole;
  std::vector<Glob> parts;
};

// Compiles a glob of at most `parts` dot-separated parts (2: tables, 3: columns), with SQL
// identifier folding. Returns false and sets `error` when it has too many parts or is malformed.
bool compile_qualified(std::string_view text, size_t parts, QualifiedGlob* out, std::string* error);

// Whether a qualified name from the statement facts matches. A fact whose leading parts are
// `*` (a column whose table the statement alone does not tell, "*.*.email") matches when the
// parts it does know match: the column might belong to the table the glob names. A fact whose
// column is `*` (`SELECT *`, a whole-row reference: every column of the table) matches a glob
// of any column of that table.
bool qualified_match(const QualifiedGlob& glob, std::string_view name);

// Whether `name` matches any glob of the list.
bool any_qualified_match(const std::vector<QualifiedGlob>& globs, std::string_view name);

// Compiles a function-name glob. Function facts are unqualified names, so a schema written in
// the rule (`pg_catalog.pg_read_file`) is dropped.
bool compile_function_glob(std::string_view text, Glob* out, std::string* error);

}  // namespace pgw::rules
