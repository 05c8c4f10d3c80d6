// Statements that name tables without reading or writing their rows: LOCK, VACUUM, ANALYZE,
// CLUSTER, REINDEX, COMMENT ON and SECURITY LABEL. Their tables go to tables_named, so a rule
// guarding writes to a table does not stop pg_dump from locking it, and LOCK reports its mode.
#include "sqlparse/walker.h"

namespace pgw::sql {
namespace {

// Adds the relation `range_var` names to tables_named; returns its qualified name.
std::string name_table(Walker& w, object range_var) {
  std::string name = w.qualify(range_var);
  add_unique(w.facts.tables_named, name);
  return name;
}

}  // namespace

const std::vector<std::string>& known_lock_modes() {
  static const std::vector<std::string> modes = {
      "access_share", "row_share",           "row_exclusive", "share_update_exclusive",
      "share",        "share_row_exclusive", "exclusive",     "access_exclusive",
  };
  return modes;
}

// LockStmt's `mode` is PostgreSQL's LOCKMODE: 1 (AccessShareLock) to 8 (AccessExclusiveLock).
// The grammar always sets it; any other value is taken as the strongest, the mode of a bare LOCK.
void Walker::lock(object s) {
  if (auto relations = member_list(s, "relations")) {
    for (element item : *relations)
      if (auto relation = as_node(item, "RangeVar")) name_table(*this, *relation);
  }
  const std::vector<std::string>& modes = known_lock_modes();
  int64_t mode = member_int(s, "mode");
  facts.lock_mode = mode >= 1 && mode <= static_cast<int64_t>(modes.size()) ? modes[mode - 1] : modes.back();
}

// VACUUM and ANALYZE: each table, and the columns ANALYZE t (a, b) gathers statistics on.
void Walker::vacuum(object s) {
  auto relations = member_list(s, "rels");
  if (!relations) return;
  for (element item : *relations) {
    auto target = as_node(item, "VacuumRelation");
    auto relation = target ? member_object(*target, "relation") : std::nullopt;
    if (!relation) continue;
    std::string table = name_table(*this, *relation);
    if (auto columns = member_list(*target, "va_cols"))
      for (element c : *columns) column(table, string_node(c));
  }
}

// CLUSTER t [USING i] and REINDEX TABLE t / INDEX i: the relation rebuilt.
void Walker::rebuild(object s) {
  if (auto relation = member_object(s, "relation")) name_table(*this, *relation);
}

// COMMENT ON and SECURITY LABEL: the relation described, or the relation of the column,
// trigger, constraint, policy or rule described (COMMENT ON COLUMN t.c also reports t.c).
void Walker::annotate(object s) {
  std::string_view type = member_text(s, "objtype");
  auto target = member(s, "object");
  std::vector<std::string_view> names = target ? list_names(*target) : std::vector<std::string_view>{};
  bool of_column = type == "OBJECT_COLUMN";
  bool on_relation = of_column || names_object_on_relation(type);
  if (!on_relation && !names_relation(type)) return;
  if (names.size() < (on_relation ? 2u : 1u)) return;
  std::string_view part = names.back();
  if (on_relation) names.pop_back();
  std::string table = qualify(names);
  add_unique(facts.tables_named, table);
  if (of_column) column(table, part);
}

}  // namespace pgw::sql
