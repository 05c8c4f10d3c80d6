#include <algorithm>

#include "sqlparse/kinds.h"
#include "sqlparse/walker.h"

namespace pgw::sql {

void add_unique(std::vector<std::string>& list, std::string value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

void Walker::any(element e) {
  array items;
  if (!e.get(items)) {
    for (element item : items) any(item);
    return;
  }
  object fields;
  if (e.get(fields)) return;
  if (auto wrapped = as_node(e)) return node(wrapped->first, wrapped->second);
  if (member(fields, "typemod")) return;  // a TypeName in a field of its own: names and modifiers
  if (member(fields, "relname")) {  // a bare RangeVar: DDL names the relation it works on
    table(fields, query_depth == 0);
    return;
  }
  members(fields);
}

void Walker::members(object fields, std::initializer_list<std::string_view> skip) {
  for (auto [key, value] : fields) {
    if (std::find(skip.begin(), skip.end(), key) == skip.end()) any(value);
  }
}

void Walker::node(std::string_view type, object fields) {
  if (type.ends_with("Stmt")) return statement(type, fields);
  if (type == "ColumnRef") return column_ref(fields);
  if (type == "FuncCall") return func_call(fields);
  if (type == "RangeVar") {
    table(fields, query_depth == 0);
    return;
  }
  if (type == "Constraint") return constraint(fields);
  if (type == "ColumnDef" || type == "IndexElem") {
    std::string_view name = member_text(fields, type == "ColumnDef" ? "colname" : "name");
    if (!name.empty() && scope) add_unique(facts.columns, resolve_column({name}));
    return members(fields);
  }
  if (type == "TableLikeClause") {
    if (auto rel = member_object(fields, "relation")) table(*rel, false);
    return;
  }
  if (type == "A_Const") {
    int64_t location = member_int(fields, "location");
    if (location >= 0) constants.all.push_back(static_cast<size_t>(location));
    return;
  }
  if (type == "String" || type == "TypeName") return;
  members(fields);
}

void Walker::statement(std::string_view type, object fields) {
  std::string kind = kind_of(type, fields);
  if (facts.command.empty()) facts.command = kind;
  add_unique(facts.commands, std::move(kind));
  ++statement_depth;
  session_effects(type, fields);
  if (type == "SelectStmt") select(fields);
  else if (type == "InsertStmt") insert(fields);
  else if (type == "UpdateStmt") update(fields);
  else if (type == "DeleteStmt") remove(fields);
  else if (type == "MergeStmt") merge(fields);
  else if (type == "CopyStmt") copy(fields);
  else if (type == "CreateStmt") on_table(fields, "relation", &Walker::create_table);
  else if (type == "CreateForeignTableStmt") {
    if (auto base = member_object(fields, "base")) on_table(*base, "relation", &Walker::create_table);
  } else if (type == "AlterTableStmt") on_table(fields, "relation", &Walker::alter_table);
  else if (type == "IndexStmt") on_table(fields, "relation", &Walker::create_index);
  else if (type == "DropStmt") drop(fields);
  else if (type == "RenameStmt") rename(fields);
  else if (type == "GrantStmt") grant(fields);
  else if (type == "CreateSchemaStmt") create_schema(fields);
  else if (type == "LockStmt") lock(fields);
  else if (type == "VacuumStmt") vacuum(fields);
  else if (type == "ClusterStmt" || type == "ReindexStmt") rebuild(fields);
  else if (type == "CommentStmt" || type == "SecLabelStmt") annotate(fields);
  else if (type == "CallStmt") {
    if (auto call = member_object(fields, "funccall")) func_call(*call);
  } else if (type == "DoStmt" || type == "CreateFunctionStmt" || type == "AlterFunctionStmt") {
    // Bodies and options are not inspected: see walker.h.
  } else if (type != "VariableSetStmt") members(fields);
  --statement_depth;
}

Constants walk_statement(element stmt, const std::string& schema, StatementFacts& facts) {
  Walker walker{schema, facts};
  walker.any(stmt);
  for (const std::string& kind : facts.commands) add_unique(facts.classes, std::string(class_of(kind)));
  return std::move(walker.constants);
}

}  // namespace pgw::sql
