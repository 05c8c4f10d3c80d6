// Statement kinds (SPEC section 6 `commands`) and their pgAudit-style classes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sqlparse/json.h"

namespace pgw::sql {

// The kind of statement node `fields` of type `type` ("DropStmt"): the SPEC name of what it
// does ("drop_table"). Node types without a name of their own fall back to snake_case of the
// type minus "Stmt", so a new grammar node still gets a stable, readable kind.
std::string kind_of(std::string_view type, object fields);

// The word PostgreSQL's ObjectType enum value stands for in kinds: "OBJECT_MATVIEW" -> "matview",
// "OBJECT_FOREIGN_TABLE" -> "foreign_table", "OBJECT_FDW" -> "foreign_data_wrapper".
std::string object_word(std::string_view object_type);

// "AlterTSConfiguration" -> "alter_ts_configuration": words split at case changes.
std::string snake_case(std::string_view name);

// The class of a kind, as pgAudit groups statements: read, write, function, role, misc, or
// ddl for everything else (an unknown kind is ddl, the class rules guard most closely).
std::string_view class_of(std::string_view kind);

// Every kind kind_of() can report for the PostgreSQL 15 grammar, sorted.
const std::vector<std::string>& all_kinds();

}  // namespace pgw::sql
