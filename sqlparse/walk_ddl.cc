// DDL and session statements: the objects they work on (written) and the state they change.
#include "sqlparse/walker.h"

namespace pgw::sql {
namespace {

// ALTER TABLE subcommands whose `name` is a column.
bool names_column(std::string_view subtype) {
  static constexpr std::string_view kColumnCommands[] = {
      "AT_SetNotNull",  "AT_DropNotNull",  "AT_SetStatistics", "AT_SetOptions",   "AT_ResetOptions",
      "AT_SetStorage",  "AT_SetCompression", "AT_AddIdentity", "AT_SetIdentity",  "AT_DropIdentity",
      "AT_DropExpression", "AT_CheckNotNull",
  };
  if (subtype.find("Column") != std::string_view::npos) return true;
  for (std::string_view c : kColumnCommands)
    if (c == subtype) return true;
  return false;
}

// The values of SET search_path = a, "B": the tree holds them as string constants, unquoted
// names already folded to lower case.
std::vector<std::string> search_path_values(object set) {
  std::vector<std::string> path;
  auto args = member_list(set, "args");
  if (!args) return path;
  for (element arg : *args) {
    auto constant = as_node(arg, "A_Const");
    auto value = constant ? member_object(*constant, "sval") : std::nullopt;
    std::string_view name = value ? member_text(*value, "sval") : std::string_view{};
    if (!name.empty()) path.emplace_back(name);
  }
  return path;
}

}  // namespace

std::vector<std::string_view> list_names(element e) {
  std::vector<std::string_view> names;
  auto list = as_node(e, "List");
  auto items = list ? member_list(*list, "items") : std::nullopt;
  if (!items) return names;
  for (element item : *items) names.push_back(string_node(item));
  return names;
}

bool names_relation(std::string_view object_type) {
  return object_type == "OBJECT_TABLE" || object_type == "OBJECT_VIEW" || object_type == "OBJECT_MATVIEW" ||
         object_type == "OBJECT_INDEX" || object_type == "OBJECT_SEQUENCE" || object_type == "OBJECT_FOREIGN_TABLE";
}

bool names_object_on_relation(std::string_view object_type) {
  return object_type == "OBJECT_TRIGGER" || object_type == "OBJECT_POLICY" || object_type == "OBJECT_RULE" ||
         object_type == "OBJECT_TABCONSTRAINT";
}

void Walker::on_table(object fields, std::string_view relation_key, void (Walker::*body)(object, const std::string&)) {
  auto relation = member_object(fields, relation_key);
  std::string name = relation ? table(*relation, true) : std::string();
  Scope level{{{std::string(relation ? member_text(*relation, "relname") : ""), name}}, {}, scope};
  Scope* saved = scope;
  scope = &level;
  (this->*body)(fields, name);
  scope = saved;
}

void Walker::create_table(object s, const std::string&) {
  if (auto parents = member_list(s, "inhRelations")) {
    for (element parent : *parents)
      if (auto rel = as_node(parent, "RangeVar")) table(*rel, false);
  }
  members(s, {"relation", "inhRelations"});
}

void Walker::alter_table(object s, const std::string& name) {
  auto cmds = member_list(s, "cmds");
  if (!cmds) return;
  for (element item : *cmds) {
    auto cmd = as_node(item, "AlterTableCmd");
    if (!cmd) continue;
    std::string_view subtype = member_text(*cmd, "subtype");
    if (subtype.starts_with("AT_DropColumn")) add_unique(facts.commands, "alter_table_drop_column");
    if (names_column(subtype)) column(name, member_text(*cmd, "name"));
    members(*cmd, {"name"});
  }
}

void Walker::create_index(object s, const std::string&) { members(s, {"relation"}); }

void Walker::constraint(object c) {
  std::string referenced;
  if (auto pktable = member_object(c, "pktable")) referenced = table(*pktable, false);
  if (auto pk = member_list(c, "pk_attrs"))
    for (element item : *pk) column(referenced, string_node(item));
  for (std::string_view key : {"fk_attrs", "keys", "including"}) {
    auto own = member_list(c, key);
    if (!own || !scope) continue;
    for (element item : *own) add_unique(facts.columns, resolve_column({string_node(item)}));
  }
  members(c, {"pktable", "pk_attrs", "fk_attrs", "keys", "including"});
}

void Walker::drop(object s) {
  std::string_view type = member_text(s, "removeType");
  auto objects = member_list(s, "objects");
  if (!objects) return;
  for (element object_name : *objects) {
    if (type == "OBJECT_SCHEMA") {  // every table of the schema goes with it
      add_unique(facts.tables_written, std::string(string_node(object_name)) + ".*");
      continue;
    }
    std::vector<std::string_view> names = list_names(object_name);
    if (names_object_on_relation(type) && !names.empty()) names.pop_back();
    if (names_relation(type) || names_object_on_relation(type)) {
      if (!names.empty()) add_unique(facts.tables_written, qualify(names));
    }
  }
}

void Walker::rename(object s) {
  std::string_view type = member_text(s, "renameType");
  if (type == "OBJECT_SCHEMA") {
    add_unique(facts.tables_written, std::string(member_text(s, "subname")) + ".*");
    return;
  }
  auto relation = member_object(s, "relation");
  if (!relation) return members(s);
  std::string name = table(*relation, true);
  if (type == "OBJECT_COLUMN") {
    column(name, member_text(s, "subname"));
    column(name, member_text(s, "newname"));
  }
}

void Walker::grant(object s) {
  if (member_text(s, "targtype") != "ACL_TARGET_ALL_IN_SCHEMA") return members(s);
  auto schemas = member_list(s, "objects");
  if (!schemas) return;
  for (element name : *schemas) add_unique(facts.tables_written, std::string(string_node(name)) + ".*");
}

void Walker::create_schema(object s) {
  std::string_view name = member_text(s, "schemaname");
  std::string saved = schema;
  if (!name.empty()) schema = std::string(name);  // CREATE SCHEMA s CREATE TABLE t: t is s.t
  members(s);
  schema = std::move(saved);
}

void Walker::session_effects(std::string_view type, object fields) {
  if (type == "ExecuteStmt") facts.executes = std::string(member_text(fields, "name"));
  if (statement_depth != 1) return;  // SET inside ALTER ROLE ... SET changes no session
  if (type == "PrepareStmt") facts.prepares = std::string(member_text(fields, "name"));
  if (type == "DeallocateStmt") facts.deallocates = std::string(member_text(fields, "name"));
  if (type == "DiscardStmt" && member_text(fields, "target") == "DISCARD_ALL") facts.sets_search_path.emplace();
  if (type != "VariableSetStmt") return;
  std::string_view kind = member_text(fields, "kind");
  if (kind == "VAR_RESET_ALL") facts.sets_search_path.emplace();
  if (member_text(fields, "name") != "search_path") return;
  if (kind == "VAR_SET_VALUE") facts.sets_search_path = search_path_values(fields);
  if (kind == "VAR_SET_DEFAULT" || kind == "VAR_RESET") facts.sets_search_path.emplace();
}

}  // namespace pgw::sql
