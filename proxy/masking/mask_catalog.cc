// The catalog query of masking and the map it builds. One query answers everything: every
// relation (so a table the map does not know is recognised as new), the columns whose names a
// column mask could match (with their COPY field position), and the source column of every view
// column (from the view's stored query tree, where PostgreSQL keeps each output column's origin).
// Every name is schema-qualified so that the session's search_path cannot change what it reads.
#include "proxy/judge/sql_text.h"
#include "proxy/masking/masking.h"
#include "proxy/wire/decimal.h"

namespace pgw {

namespace {

constexpr std::string_view kRelations =
    "SELECT 'r', c.oid::pg_catalog.text, n.nspname::pg_catalog.text, c.relname::pg_catalog.text, NULL "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
    "WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,m,f}'::pg_catalog.\"char\"[])";

constexpr std::string_view kColumns =
    " UNION ALL SELECT 'c', a.attrelid::pg_catalog.text, a.attnum::pg_catalog.text, a.attname::pg_catalog.text, "
    "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute b WHERE b.attrelid OPERATOR(pg_catalog.=) a.attrelid "
    "AND b.attnum OPERATOR(pg_catalog.>) 0 AND b.attnum OPERATOR(pg_catalog.<=) a.attnum AND NOT b.attisdropped "
    "AND b.attgenerated OPERATOR(pg_catalog.=) '')::pg_catalog.text "
    "FROM pg_catalog.pg_attribute a WHERE a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
    "AND a.attname OPERATOR(pg_catalog.~~) ANY (ARRAY[";

constexpr std::string_view kViews =
    "]::pg_catalog.text[]) UNION ALL SELECT 'v', r.ev_class::pg_catalog.text, m[1], m[2], m[3] "
    "FROM pg_catalog.pg_rewrite r, pg_catalog.regexp_matches(r.ev_action::pg_catalog.text, "
    "$pgwarden$:resno (\\d+) :resname (?:[^ \\\\]|\\\\.)* :ressortgroupref \\d+ :resorigtbl (\\d+) "
    ":resorigcol (\\d+) :resjunk false$pgwarden$, 'g') m "
    "WHERE r.ev_type OPERATOR(pg_catalog.=) '1' AND m[2] OPERATOR(pg_catalog.<>) '0'";

template <typename T>
bool number(const std::optional<std::string_view>& v, T* out) {
  return v && parse_decimal(*v, out);
}

}  // namespace

std::string catalog_query(const rules::SessionMasks& masks) {
  std::vector<std::string> patterns = rules::column_name_patterns(masks);
  if (patterns.empty()) return {};
  std::string sql(kRelations);
  sql += kColumns;
  for (size_t i = 0; i < patterns.size(); ++i) sql += (i ? ", " : "") + sql_literal(patterns[i]);
  sql += kViews;
  return sql;
}

void catalog_add_row(const std::vector<std::optional<std::string_view>>& row,
                     CatalogReply* reply) {
  uint32_t oid = 0;
  if (row.size() != 5 || !row[0] || row[0]->size() != 1 || !number(row[1], &oid)) {
    reply->failed = true;
    return;
  }
  MaskCatalog& c = reply->catalog;
  char kind = (*row[0])[0];
  if (kind == 'r' && row[2] && row[3]) {
    std::string name = std::string(*row[2]) + "." + std::string(*row[3]);
    c.by_name[name] = oid;
    c.relations[oid] = std::move(name);
    return;
  }
  int attnum = 0, position = 0;
  if (kind == 'c' && number(row[2], &attnum) && row[3] && number(row[4], &position)) {
    reply->columns.push_back({column_key(oid, attnum), std::string(*row[3]), position});
    return;
  }
  uint32_t source = 0;
  int source_attnum = 0;
  if (kind == 'v' && number(row[2], &attnum) && number(row[3], &source) && number(row[4], &source_attnum)) {
    reply->view_columns.emplace_back(column_key(oid, attnum), column_key(source, source_attnum));
    return;
  }
  reply->failed = true;
}

void catalog_finish(const rules::SessionMasks& masks, CatalogReply* reply) {
  MaskCatalog& c = reply->catalog;
  for (const CatalogReply::Column& col : reply->columns) {
    auto rel = c.relations.find(static_cast<uint32_t>(col.key >> 16));
    if (rel == c.relations.end()) continue;
    if (const rules::MaskedColumn* mask = rules::column_mask(masks, rel->second + "." + col.name))
      c.masked[col.key] = mask;
  }
  // A view column is masked when its source is; views over views resolve one level per pass.
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [column, source] : reply->view_columns) {
      auto it = c.masked.find(source);
      if (it == c.masked.end() || c.masked.count(column)) continue;
      c.masked[column] = it->second;
      changed = true;
    }
  }
  for (const auto& [key, mask] : c.masked) {
    int position = 0;
    for (const CatalogReply::Column& col : reply->columns) {
      if (col.key == key) position = col.copy_position;
    }
    c.copy_fields[static_cast<uint32_t>(key >> 16)].emplace_back(position, mask);
  }
}

}  // namespace pgw
