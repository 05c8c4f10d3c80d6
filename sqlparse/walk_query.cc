// Queries and DML: FROM lists, CTEs, targets and their columns.
#include "sqlparse/walker.h"

namespace pgw::sql {
namespace {

// Opens a query level for the lifetime of the object; its items and CTEs go out with it.
struct QueryLevel {
  Walker& walker;
  Scope scope;
  Scope* saved;
  explicit QueryLevel(Walker& w) : walker(w), saved(w.scope) {
    scope.outer = saved;
    walker.scope = &scope;
    ++walker.query_depth;
  }
  ~QueryLevel() {
    walker.scope = saved;
    --walker.query_depth;
  }
  QueryLevel(const QueryLevel&) = delete;
  QueryLevel& operator=(const QueryLevel&) = delete;
};

// The alias of a FROM item or DML target, "" when it has none.
std::string_view alias_of(object fields) {
  auto alias = member_object(fields, "alias");
  return alias ? member_text(*alias, "aliasname") : std::string_view{};
}

// The names SET / INSERT / MERGE assign, as columns of `table`.
void target_columns(Walker& w, object fields, std::string_view key, const std::string& table) {
  auto list = member_list(fields, key);
  if (!list) return;
  for (element item : *list) {
    auto target = as_node(item, "ResTarget");
    if (!target) continue;
    w.column(table, member_text(*target, "name"));
    if (auto value = member(*target, "val")) w.any(*value);
  }
}

// Notes where `e` is when it is a constant standing for an output column's number.
void note_position(Walker& w, element e) {
  auto constant = as_node(e, "A_Const");
  int64_t location = constant ? member_int(*constant, "location") : -1;
  if (location >= 0) w.constants.positions.push_back(static_cast<size_t>(location));
}

// A VALUES list standing for an INSERT's rows: a source of values, not a query of its own.
bool is_values_list(element e) {
  auto s = as_node(e, "SelectStmt");
  return s && member(*s, "valuesLists") && !member(*s, "fromClause");
}

}  // namespace

void Walker::with(object s) {
  auto clause = member_object(s, "withClause");
  if (!clause) return;
  bool recursive = member_flag(*clause, "recursive");
  auto ctes = member_list(*clause, "ctes");
  if (!ctes) return;
  for (element item : *ctes) {
    auto cte = as_node(item, "CommonTableExpr");
    if (!cte) continue;
    // A CTE's name hides a table only after its own definition, unless WITH RECURSIVE:
    // WITH users AS (SELECT * FROM users) still reads the table users.
    std::string name(member_text(*cte, "ctename"));
    if (recursive) add_unique(scope->ctes, name);
    if (auto query = member(*cte, "ctequery")) any(*query);
    add_unique(scope->ctes, std::move(name));
  }
}

void Walker::from_item(element e) {
  auto n = as_node(e);
  if (!n) return any(e);
  auto [type, fields] = *n;
  if (type == "RangeVar") {
    std::string_view alias = alias_of(fields);
    std::string_view relname = member_text(fields, "relname");
    bool cte = member_text(fields, "schemaname").empty() && is_cte(relname);
    std::string name(alias.empty() ? relname : alias);
    scope->items.push_back({std::move(name), cte ? std::string() : table(fields, false)});
  } else if (type == "JoinExpr") {
    if (auto left = member(fields, "larg")) from_item(*left);
    if (auto right = member(fields, "rarg")) from_item(*right);
    if (auto quals = member(fields, "quals")) any(*quals);
    if (std::string_view alias = alias_of(fields); !alias.empty()) scope->items.push_back({std::string(alias), ""});
  } else if (type == "RangeTableSample") {
    if (auto relation = member(fields, "relation")) from_item(*relation);
    members(fields, {"relation"});
  } else {  // RangeSubselect, RangeFunction, RangeTableFunc: their own queries and calls
    members(fields, {"alias"});
    scope->items.push_back({std::string(alias_of(fields)), ""});
  }
}

void Walker::note_positions(object s) {
  if (auto groups = member_list(s, "groupClause"))
    for (element item : *groups) note_position(*this, item);
  if (auto sorts = member_list(s, "sortClause")) {
    for (element item : *sorts) {
      auto sort = as_node(item, "SortBy");
      if (auto key = sort ? member(*sort, "node") : std::nullopt) note_position(*this, *key);
    }
  }
}

void Walker::select(object s) {
  QueryLevel level(*this);
  note_positions(s);
  with(s);
  if (auto from = member_list(s, "fromClause"))
    for (element item : *from) from_item(item);
  if (auto into = member_object(s, "intoClause")) {  // SELECT ... INTO t creates t
    add_unique(facts.commands, "create_table_as");
    if (auto rel = member_object(*into, "rel")) table(*rel, true);
  }
  for (std::string_view side : {"larg", "rarg"}) {
    if (auto branch = member_object(s, side)) select(*branch);
  }
  // FOR UPDATE OF x names FROM items by name or alias (already read above), not tables.
  members(s, {"withClause", "fromClause", "intoClause", "larg", "rarg", "lockingClause"});
}

std::string Walker::target(object s) {
  auto relation = member_object(s, "relation");
  if (!relation) return {};
  std::string written = table(*relation, true);
  std::string_view alias = alias_of(*relation);
  scope->items.push_back({std::string(alias.empty() ? member_text(*relation, "relname") : alias), written});
  return written;
}

void Walker::insert(object s) {
  QueryLevel level(*this);
  with(s);
  std::string into = target(s);
  if (auto cols = member_list(s, "cols")) {
    for (element item : *cols)
      if (auto col = as_node(item, "ResTarget")) column(into, member_text(*col, "name"));
  }
  if (auto source = member(s, "selectStmt")) {
    auto values = is_values_list(*source) ? member(as_node(*source)->second, "valuesLists") : std::nullopt;
    any(values ? *values : *source);
  }
  if (auto conflict = member_object(s, "onConflictClause")) {
    if (auto infer = member(*conflict, "infer")) any(*infer);
    scope->items.push_back({"excluded", into});
    target_columns(*this, *conflict, "targetList", into);
    if (auto where = member(*conflict, "whereClause")) any(*where);
  }
  if (auto returning = member(s, "returningList")) any(*returning);
}

void Walker::update(object s) {
  QueryLevel level(*this);
  with(s);
  std::string written = target(s);
  if (auto from = member_list(s, "fromClause"))
    for (element item : *from) from_item(item);
  target_columns(*this, s, "targetList", written);
  if (!member(s, "whereClause")) facts.where_absent = true;
  members(s, {"withClause", "relation", "fromClause", "targetList"});
}

void Walker::remove(object s) {
  QueryLevel level(*this);
  with(s);
  target(s);
  if (auto from = member_list(s, "usingClause"))
    for (element item : *from) from_item(item);
  if (!member(s, "whereClause")) facts.where_absent = true;
  members(s, {"withClause", "relation", "usingClause"});
}

void Walker::merge(object s) {
  QueryLevel level(*this);
  with(s);
  std::string written = target(s);
  if (auto source = member(s, "sourceRelation")) from_item(*source);
  if (auto on = member(s, "joinCondition")) any(*on);
  auto whens = member_list(s, "mergeWhenClauses");
  if (!whens) return;
  for (element item : *whens) {
    auto when = as_node(item, "MergeWhenClause");
    if (!when) continue;
    std::string_view action = member_text(*when, "commandType");
    if (action == "CMD_UPDATE") add_unique(facts.commands, "update");
    if (action == "CMD_INSERT") add_unique(facts.commands, "insert");
    if (action == "CMD_DELETE") add_unique(facts.commands, "delete");
    target_columns(*this, *when, "targetList", written);
    members(*when, {"targetList"});
  }
}

void Walker::copy(object s) {
  if (auto query = member(s, "query")) return any(*query);
  auto relation = member_object(s, "relation");
  if (!relation) return;
  std::string name = table(*relation, member_flag(s, "is_from"));
  auto columns = member_list(s, "attlist");
  if (!columns || columns->size() == 0) return column(name, "*");
  for (element item : *columns) column(name, string_node(item));
}

}  // namespace pgw::sql
