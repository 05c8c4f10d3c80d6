// The walk over one statement's parse tree that gathers its facts. Everything a statement does
// anywhere in its tree counts: data-modifying CTEs, subqueries, the statement inside EXPLAIN,
// PREPARE, CREATE TABLE AS, COPY (query) and CREATE VIEW/RULE. EXPLAIN without ANALYZE and the
// queries of views and rules do not run now, yet they count the same: a rule cannot be
// sidestepped by an option's spelling, and a view or rule runs its query later, unparsed.
// Bodies of DO blocks and of functions and procedures (CREATE FUNCTION, including BEGIN ATOMIC
// bodies) are not inspected: their kind (do, create_function) is what rules judge them by.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sqlparse/facts.h"
#include "sqlparse/json.h"

namespace pgw::sql {

// One entry of a FROM list (or a DML target) as columns see it: the name it is known by (its
// alias, else its relation name) and the "schema.table" behind it, "" when it is not a table
// (subquery, CTE, function, VALUES).
struct RangeItem {
  std::string name;
  std::string table;
};

// The names visible at one query level: its FROM items and its CTEs. Levels nest: a subquery
// sees the items of the queries around it.
struct Scope {
  std::vector<RangeItem> items;
  std::vector<std::string> ctes;
  const Scope* outer = nullptr;
};

// Where the grammar made constants (A_Const) of a statement's literals, by byte location.
struct Constants {
  // Every constant walked through; those in type modifiers (varchar(10)) are not.
  std::vector<size_t> all;
  // Those of them that name an output column by its number, as in GROUP BY 1 or ORDER BY 2:
  // pg_query_normalize keeps such a number in the text when it is an int4, replaces it otherwise.
  std::vector<size_t> positions;
};

// Walks one statement tree, adding to `facts`.
struct Walker {
  std::string schema;  // the schema unqualified names resolve to
  StatementFacts& facts;
  Scope* scope = nullptr;   // innermost query level, or the table a DDL statement works on
  int query_depth = 0;      // > 0 inside a query: relations met there are read, not written
  int statement_depth = 0;  // 1 for the top-level statement
  // The constants met.
  Constants constants = {};

  // Any element: dispatches wrapped nodes, finds bare RangeVars, descends into the rest.
  void any(element e);
  // Every member of `fields` but those named in `skip`.
  void members(object fields, std::initializer_list<std::string_view> skip = {});
  // A wrapped node of type `type`.
  void node(std::string_view type, object fields);
  // A statement node: records its kind, then what it does.
  void statement(std::string_view type, object fields);

  // Queries (walk_query.cc).
  void select(object s);
  void insert(object s);
  void update(object s);
  void remove(object s);
  void merge(object s);
  void copy(object s);
  void with(object s);
  void from_item(element e);
  std::string target(object s);
  void note_positions(object s);

  // Names (walk_names.cc).
  std::string qualify(object range_var) const;
  std::string qualify(const std::vector<std::string_view>& names) const;
  std::string table(object range_var, bool written);
  bool is_cte(std::string_view name) const;
  const RangeItem* find_item(std::string_view name) const;
  std::string resolve_column(const std::vector<std::string_view>& names) const;
  std::vector<std::string> resolve_star(const std::vector<std::string_view>& qualifier) const;
  void column_ref(object ref);
  void column(const std::string& table, std::string_view name);
  void func_call(object call);

  // DDL and session statements (walk_ddl.cc).
  void on_table(object fields, std::string_view relation_key, void (Walker::*body)(object, const std::string&));
  void create_table(object s, const std::string& table);
  void alter_table(object s, const std::string& table);
  void create_index(object s, const std::string& table);
  void constraint(object c);
  void drop(object s);
  void rename(object s);
  void grant(object s);
  void create_schema(object s);
  void session_effects(std::string_view type, object fields);

  // Statements that name tables without reading or writing their rows (walk_named.cc).
  void lock(object s);
  void vacuum(object s);
  void rebuild(object s);
  void annotate(object s);
};

// Facts of the statement node `stmt` (a RawStmt's "stmt" member), unqualified names resolving
// to `schema`. Fills command, commands, classes, tables (read, written, named), lock_mode,
// columns, functions, where_absent and the session effects (prepares, executes, deallocates,
// sets_search_path). Returns where the constants walked through are.
Constants walk_statement(element stmt, const std::string& schema, StatementFacts& facts);

// Appends `value` to `list` unless it is there already: facts are sets in first-seen order.
void add_unique(std::vector<std::string>& list, std::string value);

// The String items of a List node {"List": {"items": [...]}}: the parts of a dotted name.
std::vector<std::string_view> list_names(element e);

// Whether an ObjectType names a relation (table, view, materialized view, index, sequence,
// foreign table).
bool names_relation(std::string_view object_type);

// Whether an ObjectType names an object of a relation, its name ending "... ON t" or "t.name":
// a trigger, policy, rule or table constraint. The relation is all but the last name.
bool names_object_on_relation(std::string_view object_type);

}  // namespace pgw::sql
