// Names: relations qualified against the search path, columns resolved against FROM items,
// functions by their last name element.
//
// Column rule: a column is "schema.table.column" when its table can be told from the statement
// alone, otherwise it is qualified as far as the text goes:
//  - t.c or alias.c names the FROM item t (innermost query level outward); a table item gives
//    its table, a subquery/CTE/function item gives "*.*.c", an unknown t gives "*.t.c";
//  - s.t.c is taken as written; db.s.t.c drops the database;
//  - a bare c belongs to the innermost query level that has FROM items: when they all are the
//    same table (FROM t, or an UPDATE's target with ON CONFLICT's "excluded"), that table,
//    otherwise "*.*.c";
//  - `*` follows the same rules: t.* gives "schema.t.*", a bare `*` gives "schema.table.*" for
//    every table item of its level and "*.*.*" when the level also has other items.
#include "sqlparse/identifier_list.h"
#include "sqlparse/walker.h"

namespace pgw::sql {
namespace {

std::vector<std::string_view> name_list(array list) {
  std::vector<std::string_view> names;
  for (element item : list) names.push_back(string_node(item));
  return names;
}

// The path `SELECT set_config('search_path', 'a, b', ...)` sets, when both are constants.
std::optional<std::vector<std::string>> set_config_path(object call) {
  auto args = member_list(call, "args");
  if (!args || args->size() < 2) return std::nullopt;
  std::string_view values[2];
  size_t i = 0;
  for (element arg : *args) {
    if (i == 2) break;
    auto constant = as_node(arg, "A_Const");
    auto value = constant ? member_object(*constant, "sval") : std::nullopt;
    if (!value) return std::nullopt;
    values[i++] = member_text(*value, "sval");
  }
  if (values[0] != "search_path") return std::nullopt;
  return split_identifier_list(values[1]);
}

// The innermost query level with FROM items, or null.
const Scope* items_level(const Scope* scope) {
  while (scope && scope->items.empty()) scope = scope->outer;
  return scope;
}

// The table every item of `level` stands for, "" when they differ or one is not a table.
std::string sole_table(const Scope& level) {
  const std::string& first = level.items.front().table;
  for (const RangeItem& item : level.items)
    if (item.table != first) return {};
  return first;
}

}  // namespace

std::string Walker::qualify(object range_var) const {
  std::string_view schemaname = member_text(range_var, "schemaname");
  std::string name(schemaname.empty() ? std::string_view(schema) : schemaname);
  name += '.';
  name += member_text(range_var, "relname");
  return name;
}

std::string Walker::qualify(const std::vector<std::string_view>& names) const {
  if (names.empty()) return {};
  std::string_view relname = names.back();
  std::string name(names.size() >= 2 ? names[names.size() - 2] : std::string_view(schema));
  name += '.';
  name += relname;
  return name;
}

std::string Walker::table(object range_var, bool written) {
  std::string name = qualify(range_var);
  add_unique(written ? facts.tables_written : facts.tables_read, name);
  return name;
}

bool Walker::is_cte(std::string_view name) const {
  for (const Scope* s = scope; s; s = s->outer) {
    for (const std::string& cte : s->ctes)
      if (cte == name) return true;
  }
  return false;
}

const RangeItem* Walker::find_item(std::string_view name) const {
  for (const Scope* s = scope; s; s = s->outer) {
    for (const RangeItem& item : s->items)
      if (item.name == name) return &item;
  }
  return nullptr;
}

std::string Walker::resolve_column(const std::vector<std::string_view>& names) const {
  std::string_view column = names.back();
  std::string table;
  if (names.size() >= 3) {
    table = std::string(names[names.size() - 3]) + "." + std::string(names[names.size() - 2]);
  } else if (names.size() == 2) {
    const RangeItem* item = find_item(names[0]);
    table = item ? (item->table.empty() ? "*.*" : item->table) : "*." + std::string(names[0]);
  } else {
    const Scope* level = items_level(scope);
    table = level ? sole_table(*level) : std::string();
    if (table.empty()) table = "*.*";
  }
  return table + "." + std::string(column);
}

std::vector<std::string> Walker::resolve_star(const std::vector<std::string_view>& qualifier) const {
  if (!qualifier.empty()) {
    std::vector<std::string_view> names = qualifier;
    names.push_back("*");
    return {resolve_column(names)};
  }
  std::vector<std::string> out;
  const Scope* level = items_level(scope);
  if (!level) return {"*.*.*"};
  bool other = false;
  for (const RangeItem& item : level->items) {
    if (item.table.empty()) other = true;
    else add_unique(out, item.table + ".*");
  }
  if (other) out.push_back("*.*.*");
  return out;
}

void Walker::column_ref(object ref) {
  auto fields = member_list(ref, "fields");
  if (!fields || fields->size() == 0) return;
  std::vector<std::string_view> names;
  bool star = false;
  for (element item : *fields) {
    if (as_node(item, "A_Star")) star = true;
    else names.push_back(string_node(item));
  }
  if (!star) {
    add_unique(facts.columns, resolve_column(names));
    // A lone name that is also a table or alias in scope may be a whole-row reference
    // (`row_to_json(u)`, `SELECT u FROM users u`), which reads every column: without the catalog
    // the text cannot tell, so it counts as both.
    if (names.size() != 1 || !find_item(names[0])) return;
  }
  for (std::string& c : resolve_star(names)) add_unique(facts.columns, std::move(c));
}

void Walker::column(const std::string& table, std::string_view name) {
  if (name.empty()) return;
  add_unique(facts.columns, (table.empty() ? std::string("*.*") : table) + "." + std::string(name));
}

void Walker::func_call(object call) {
  if (auto names = member_list(call, "funcname")) {
    std::vector<std::string_view> parts = name_list(*names);
    if (!parts.empty()) add_unique(facts.functions, std::string(parts.back()));
    if (!parts.empty() && parts.back() == "set_config") {
      if (auto path = set_config_path(call)) facts.sets_search_path = std::move(path);
    }
  }
  members(call, {"funcname"});
}

}  // namespace pgw::sql
