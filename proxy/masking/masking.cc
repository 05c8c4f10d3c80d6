#include "proxy/masking/masking.h"

#include <algorithm>
#include <atomic>

#include "proxy/judge/judge.h"

namespace pgw {

namespace {

std::atomic<uint64_t> g_generation{1};

// Type OIDs of pg_type that masking treats specially.
enum TypeOid : uint32_t {
  kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25, kOid = 26,
  kJson = 114, kXml = 142, kFloat4 = 700, kFloat8 = 701, kUnknown = 705, kBpchar = 1042, kVarchar = 1043,
  kDate = 1082, kTime = 1083, kTimestamp = 1114, kTimestamptz = 1184, kInterval = 1186, kTimetz = 1266,
  kNumeric = 1700, kUuid = 2950, kJsonb = 3802,
};

// Types whose binary form is their text.
bool is_text_type(uint32_t type) {
  switch (type) {
    case kText: case kVarchar: case kBpchar: case kName: case kChar: case kUnknown: case kJson: case kXml:
      return true;
  }
  return false;
}

// How value masks treat a binary column of `type`: text is masked as text, numbers through their
// text form, types whose text cannot hold what a pattern looks for pass, and anything else
// (arrays, records, types pgwarden cannot read) becomes NULL rather than leave unmasked.
FieldMask binary_value_mask(uint32_t type) {
  if (is_text_type(type) || type == kBytea) return FieldMask::value_text;
  switch (type) {
    case kJsonb: return FieldMask::value_jsonb;
    case kInt2: case kInt4: case kInt8: case kOid: case kFloat4: case kFloat8: case kNumeric:
      return FieldMask::value_number;
    case kBool: case kDate: case kTime: case kTimetz: case kTimestamp: case kTimestamptz: case kInterval: case kUuid:
      return FieldMask::none;
  }
  return FieldMask::null;
}

bool has(const std::vector<std::string>& v, std::string_view x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Whether a statement's results may carry table columns: it reads, or it writes (RETURNING).
bool returns_columns(const sql::StatementFacts& f) {
  return has(f.classes, "read") || !f.tables_read.empty() || !f.tables_written.empty() || f.command == "fetch" ||
         f.command == "execute";
}

// Takes the masks of the rules in force (they change on RELOAD); a new set drops the catalog.
void sync_rules(Masking& m, const MaskingHost& host) {
  rules::RuleSetPtr set = host.rules_in_force();
  if (set == m.rules) return;
  m.rules = set;
  m.masks = set ? rules::masks_for(*set, host.mask_context()) : nullptr;
  m.catalog_sql = m.masks ? catalog_query(*m.masks) : std::string();
  m.catalog.reset();
  m.requested = false;
  m.unknown.clear();
}

bool stale(const Masking& m) {
  return m.refresh || !m.requested || m.requested_generation != g_generation.load(std::memory_order_acquire);
}

// pgwarden's own request of type `request`, whose replies are for masking.
Expect internal(char request) {
  Expect e;
  e.request = request;
  e.internal = true;
  return e;
}

// Sends the catalog query ahead of the request about to be forwarded.
void inject_catalog(Masking& m, MaskingHost& host) {
  std::string out;
  Writer(out).begin('Q').cstr(m.catalog_sql).end();
  host.send_upstream(out, internal('Q'));
  CatalogReply reply;
  reply.masks = m.masks;
  reply.generation = g_generation.load(std::memory_order_acquire);
  reply.asked = std::move(m.asked);
  m.asked.clear();
  m.requested = true;
  m.requested_generation = reply.generation;
  m.refresh = false;
  m.incoming.push_back(std::move(reply));
}

// Sends a Describe of `portal` ahead of an Execute the client did not describe, so that its
// rows' columns are known.
void inject_describe(Masking& m, MaskingHost& host, const std::string& portal) {
  std::string out;
  Writer(out).begin('D').u8('P').cstr(portal).end();
  Expect e = internal('D');
  e.portal = portal;
  host.send_upstream(out, std::move(e));
  m.described.insert(portal);
}

// The column mask over a column of a RowDescription, through the catalog. A column of a table
// the catalog does not know is taken as masked until the catalog is refreshed. Attribute 0 is a
// whole-row reference (`SELECT u FROM users u`): masked when any column of the row is.
const rules::MaskedColumn* source_mask(Masking& m, const FieldDesc& f) {
  if (f.table_oid == 0 || f.attnum < 0) return nullptr;
  if (m.catalog && m.catalog->relations.count(f.table_oid)) {
    if (f.attnum == 0) {
      auto fields = m.catalog->copy_fields.find(f.table_oid);
      return fields == m.catalog->copy_fields.end() ? nullptr : fields->second.front().second;
    }
    auto it = m.catalog->masked.find(column_key(f.table_oid, f.attnum));
    return it == m.catalog->masked.end() ? nullptr : it->second;
  }
  m.refresh = true;
  return rules::any_column_mask(*m.masks);
}

// The column mask a table may carry to a COPY (query) that reads it: the first of its masked
// columns when the catalog knows it, else whatever a mask's table part says of its name.
// `strict` (when the catalog may be stale) takes every unknown table as masked.
const rules::MaskedColumn* table_mask(const Masking& m, const std::string& table, bool strict) {
  if (m.catalog) {
    auto it = m.catalog->by_name.find(table);
    if (it != m.catalog->by_name.end()) {
      auto fields = m.catalog->copy_fields.find(it->second);
      return fields == m.catalog->copy_fields.end() ? nullptr : fields->second.front().second;
    }
  }
  if (m.catalog_sql.empty()) return nullptr;
  if (strict && !m.unknown.count(table)) return rules::any_column_mask(*m.masks);
  return rules::table_has_column_mask(*m.masks, table) ? rules::any_column_mask(*m.masks) : nullptr;
}

void plan_row_description(Masking& m, std::string_view body, RowPlan* plan) {
  plan->masks = m.masks;
  plan->columns.clear();
  plan->any = true;  // a malformed description leaves no columns: every value is withheld
  if (!parse_row_description(body, &m.fields)) return;
  plan->any = false;
  plan->any_computed = false;
  bool values = rules::value_mask_name(*m.masks) != nullptr;
  const rules::MaskedColumn* any_column = rules::any_column_mask(*m.masks);
  for (const FieldDesc& f : m.fields) {
    ColumnPlan c;
    c.type_oid = f.type_oid;
    FieldMask replace = f.format == 0 || is_text_type(f.type_oid) ? FieldMask::replace : FieldMask::null;
    if (const rules::MaskedColumn* col = any_column ? source_mask(m, f) : nullptr) {
      c.how = replace;
      c.column = col;
    } else if (values) {
      c.how = f.format == 0 ? FieldMask::value_text : binary_value_mask(f.type_oid);
    }
    c.computed = c.how;
    if (any_column && f.table_oid == 0) {
      c.computed = replace;
      c.column = any_column;
    }
    plan->any = plan->any || c.how != FieldMask::none;
    plan->any_computed = plan->any_computed || c.computed != FieldMask::none;
    plan->columns.push_back(c);
  }
}

// The masked form of one non-NULL value into `storage`; false to send NULL instead. Counts it.
// Returns through `changed` whether the value differs from what the server sent.
bool mask_one(const rules::SessionMasks& masks, const ColumnPlan& c, std::string_view value, std::string* storage,
              bool* changed) {
  int count = 0;
  *changed = true;
  switch (c.how) {
    case FieldMask::replace:
      *storage = c.column->replace;
      return true;
    case FieldMask::null:
      return false;
    case FieldMask::value_text:
      *changed = rules::mask_value(masks, value, storage, &count);
      return true;
    case FieldMask::value_jsonb:
      if (value.empty() || value[0] != 1) return false;
      *changed = rules::mask_value(masks, value.substr(1), storage, &count);
      storage->insert(0, 1, '\1');
      return true;
    case FieldMask::value_number: {
      std::optional<std::string> text = binary_number_text(c.type_oid, value);
      if (!text) return false;
      *changed = rules::mask_value(masks, *text, storage, &count);
      return !*changed;
    }
    case FieldMask::none:
      break;
  }
  *changed = false;
  return true;
}

// Rewrites one DataRow by `plan` into m.out; false when nothing changed. `computed`: the
// statement reads a masked column, so columns without a source are masked too.
bool mask_row(Masking& m, MaskingHost& host, const RowPlan& plan, bool computed, const Message& msg) {
  if (!split_data_row(msg.body, &m.values)) {
    host.server_broke("server: malformed DataRow");
    return false;
  }
  bool mismatch = m.values.size() != plan.columns.size();
  m.storage.resize(std::max(m.storage.size(), m.values.size()));
  bool any = false;
  for (size_t i = 0; i < m.values.size(); ++i) {
    if (!m.values[i]) continue;
    if (mismatch) {  // rows that do not fit their description are withheld, value by value
      m.values[i].reset();
      ++m.masked;
      any = true;
      continue;
    }
    ColumnPlan c = plan.columns[i];
    if (computed) c.how = c.computed;
    if (c.how == FieldMask::none) continue;
    bool changed = false;
    bool keep = mask_one(*plan.masks, c, *m.values[i], &m.storage[i], &changed);
    if (!changed) continue;
    if (keep) m.values[i] = m.storage[i];
    else m.values[i].reset();
    ++m.masked;
    any = true;
  }
  if (!any) return false;
  m.out.clear();
  write_data_row_values(m.out, m.values);
  return true;
}

ColumnPlan replaced(const rules::MaskedColumn* col) {
  ColumnPlan c;
  c.how = c.computed = FieldMask::replace;
  c.column = col;
  return c;
}

// The column masks over the fields of a COPY TO STDOUT, into m.copy.
void plan_copy_columns(Masking& m, const CopyPlan& plan) {
  std::vector<ColumnPlan>& cols = m.copy.columns;
  auto mask_all = [&](const rules::MaskedColumn* col) {
    for (ColumnPlan& c : cols) c = replaced(col);
  };
  if (!plan.table.empty() && !plan.columns.empty()) {
    if (plan.columns.size() != cols.size()) return mask_all(rules::any_column_mask(*m.masks));
    for (size_t i = 0; i < cols.size(); ++i) {
      if (const rules::MaskedColumn* col = rules::column_mask(*m.masks, plan.columns[i]))
        cols[i] = replaced(col);
    }
    return;
  }
  if (!plan.table.empty() && m.catalog && m.catalog->by_name.count(plan.table)) {
    auto fields = m.catalog->copy_fields.find(m.catalog->by_name.at(plan.table));
    if (fields == m.catalog->copy_fields.end()) return;
    for (const auto& [position, col] : fields->second) {
      if (position < 1 || position > static_cast<int>(cols.size())) return mask_all(col);
      cols[static_cast<size_t>(position - 1)] = replaced(col);
    }
    return;
  }
  // A query (or a table the catalog does not know): which field holds which source column is not
  // known, so every field is masked when the statement reads a table with a masked column.
  for (const std::string& table : plan.reads) {
    if (const rules::MaskedColumn* col = table_mask(m, table, false)) return mask_all(col);
  }
}

// CopyOutResponse: works out the fields' masks from the statement's plan.
void start_copy(Masking& m, MaskingHost& host, Expect* cur, const Message& msg) {
  Reader r(msg.body);
  uint8_t format = r.u8();
  int16_t count = r.i16();
  std::shared_ptr<const CopyPlan> plan;
  if (cur && cur->next_copy < cur->copies.size()) plan = cur->copies[cur->next_copy++];
  if (!r.ok() || count < 0 || !plan) {
    host.fail("XX000", "pgwarden: a COPY TO STDOUT started that pgwarden cannot mask");
    return;
  }
  m.copy.masks = m.masks;
  m.copy.columns.assign(static_cast<size_t>(count), ColumnPlan{});
  if (rules::value_mask_name(*m.masks)) {
    for (ColumnPlan& c : m.copy.columns) c.how = FieldMask::value_text;
  }
  if (!m.catalog_sql.empty()) plan_copy_columns(m, *plan);
  m.copy.any = std::any_of(m.copy.columns.begin(), m.copy.columns.end(),
                           [](const ColumnPlan& c) { return c.how != FieldMask::none; });
  if (m.copy.any && (format != 0 || plan->binary)) {
    host.fail("42501", "pgwarden: a binary COPY TO STDOUT of masked values cannot be masked");
    return;
  }
  m.copying = m.copy.any;
  m.copy_header = plan->header;
  m.copy_format = plan->format;
}

// Rewrites one CopyData row by m.copy into m.out; false when nothing changed.
bool mask_copy_row(Masking& m, MaskingHost& host, const Message& msg) {
  if (m.copy_header) {
    m.copy_header = false;
    return false;
  }
  if (!split_copy_row(msg.body, m.copy_format, &m.copy_fields)) {
    host.fail("XX000", "pgwarden: a COPY row from the server could not be read for masking");
    return false;
  }
  bool mismatch = m.copy_fields.size() != m.copy.columns.size();
  m.out.clear();
  Writer w(m.out);
  w.begin('d');
  bool any = false;
  std::string masked;
  for (size_t i = 0; i < m.copy_fields.size(); ++i) {
    const CopyField& f = m.copy_fields[i];
    if (i) m.out.push_back(m.copy_format.delimiter);
    bool changed = false;
    bool keep = true;
    if (f.value && mismatch) {
      changed = true;
      keep = false;
    } else if (f.value) {
      ColumnPlan c = m.copy.columns[i];
      keep = mask_one(*m.copy.masks, c, *f.value, &masked, &changed);
    }
    if (!changed) {
      m.out.append(f.raw);
      continue;
    }
    any = true;
    ++m.masked;
    if (keep) append_copy_field(m.out, masked, m.copy_format);
    else m.out.append(m.copy_format.null);
  }
  if (!msg.body.empty() && msg.body.back() == '\n') m.out.push_back('\n');
  w.end();
  return any;
}

// One row of the catalog query.
void catalog_row(Masking& m, const Message& msg) {
  if (m.incoming.empty()) return;
  if (!split_data_row(msg.body, &m.values)) m.incoming.front().failed = true;
  else catalog_add_row(m.values, &m.incoming.front());
}

// The catalog query is complete: its map replaces the session's, unless it failed or was asked
// for masks that have been replaced since.
void catalog_done(Masking& m) {
  if (m.incoming.empty()) return;
  CatalogReply reply = std::move(m.incoming.front());
  m.incoming.pop_front();
  if (reply.masks != m.masks) return;
  if (reply.failed) {
    m.refresh = true;
    return;
  }
  catalog_finish(*reply.masks, &reply);
  reply.catalog.masks = reply.masks;
  reply.catalog.generation = reply.generation;
  for (const std::string& t : reply.asked) {
    if (!reply.catalog.by_name.count(t)) m.unknown.insert(t);
  }
  std::erase_if(m.unknown, [&](const std::string& t) { return reply.catalog.by_name.count(t) > 0; });
  m.catalog = std::move(reply.catalog);
}

// Whether a statement may read a column a column mask covers: it reads a table a mask names, or
// a relation the catalog says has a masked column (a view over one), or names such a column.
// A whole-row reference (`SELECT u FROM users u`, `row_to_json(u)`) reads every column, which is
// why the tables count and not only the columns.
bool reads_masked_column(const Masking& m, const sql::StatementFacts& f) {
  if (m.catalog_sql.empty()) return false;
  for (const std::string& table : f.tables_read) {
    if (table_mask(m, table, false)) return true;
  }
  for (const std::string& column : f.columns) {
    size_t dot = column.rfind('.');
    std::string table = column.substr(0, dot == std::string::npos ? 0 : dot);
    if (column.ends_with(".*") ? rules::table_has_column_mask(*m.masks, table) : rules::column_mask(*m.masks, column) != nullptr)
      return true;
    if (rules::table_has_column_mask(*m.masks, table) || !m.catalog) continue;
    auto rel = m.catalog->by_name.find(table);
    if (rel != m.catalog->by_name.end() && m.catalog->copy_fields.count(rel->second)) return true;
  }
  return false;
}

// Refuses a binary COPY TO STDOUT that would carry a masked value, as a decision of the mask.
void refuse_binary_copy(const Masking& m, Judged& j) {
  std::optional<CopyPlan> plan = read_copy_plan(j.text, j.facts.tables_read);
  if (!plan || !plan->binary) return;
  const std::string* mask = rules::value_mask_name(*m.masks);
  for (size_t i = 0; !mask && i < plan->reads.size(); ++i) {
    if (const rules::MaskedColumn* col = table_mask(m, plan->reads[i], true)) mask = &col->name;
  }
  if (!mask) return;
  j.decision.action = rules::Action::deny;
  j.decision.enforced = true;
  j.decision.rule = *mask;
  j.decision.message = "COPY ... TO STDOUT (FORMAT binary) would send values this mask covers, and binary COPY "
                       "cannot be masked: use text or csv format";
}

}  // namespace

uint64_t catalog_generation() { return g_generation.load(std::memory_order_acquire); }

void masking_check(Masking& m, const MaskingHost& host, std::vector<Judged>& judged) {
  for (const Judged& j : judged) {
    if (has(j.facts.classes, "ddl")) m.ddl = m.refresh = true;
  }
  sync_rules(m, host);
  if (!m.masks) return;
  for (Judged& j : judged) {
    if (returns_columns(j.facts)) m.wants_catalog = true;
    if (m.catalog && !m.catalog_sql.empty()) {
      for (const std::string& t : j.facts.tables_read) {
        if (m.catalog->by_name.count(t) || m.unknown.count(t)) continue;
        m.refresh = true;
        m.asked.push_back(t);
      }
    }
    if (j.facts.command == "copy_to") refuse_binary_copy(m, j);
  }
}

void masking_plan(const Masking& m, const std::vector<Judged>& judged, Expect* e) {
  if (!m.masks) return;
  for (const Judged& j : judged) {
    e->masks_computed = e->masks_computed || reads_masked_column(m, j.facts);
    if (j.facts.command != "copy_to") continue;
    if (std::optional<CopyPlan> plan = read_copy_plan(j.text, j.facts.tables_read))
      e->copies.push_back(std::make_shared<const CopyPlan>(std::move(*plan)));
  }
}

void masking_before_forward(Masking& m, MaskingHost& host, std::string_view raw, Expect& e) {
  if (!m.masks || raw.size() < 5) return;
  char type = raw[0];
  bool extended = type == 'P' || type == 'B' || type == 'D' || type == 'E' || type == 'C';
  // The catalog query is a simple Query, which drops the unnamed prepared statement: it goes only
  // ahead of a Query or a Parse that replace it anyway, never ahead of a Bind of it (a client may
  // Parse and Sync, then Bind and Execute). Until then a stale map masks what it does not know.
  if ((type == 'Q' || type == 'P') && !m.in_extended && m.wants_catalog && !m.catalog_sql.empty() && stale(m))
    inject_catalog(m, host);
  if (type == 'Q' || type == 'P') m.wants_catalog = false;
  if (extended) m.in_extended = true;
  if (type == 'S') m.in_extended = false;
  switch (type) {
    case 'B':
      if (e.portal) m.described.erase(*e.portal);
      break;
    case 'D':
      if (e.portal) m.described.insert(*e.portal);
      break;
    case 'E':
      if (e.portal && !m.described.count(*e.portal)) inject_describe(m, host, *e.portal);
      break;
    case 'C':
      if (e.portal) {
        m.described.erase(*e.portal);
        m.portals.erase(*e.portal);
      }
      break;
  }
}

bool masking_on_message(Masking& m, MaskingHost& host, Expect* cur, const Message& msg) {
  bool catalog = cur && cur->internal && cur->request == 'Q';
  if (!m.masks && !catalog) return false;  // the masks were dropped by a reload
  switch (msg.type) {
    case 'T':
      if (!m.masks) return false;
      if (cur && cur->request == 'Q' && !catalog) plan_row_description(m, msg.body, &m.simple);
      if (cur && cur->request == 'D' && cur->portal) plan_row_description(m, msg.body, &m.portals[*cur->portal]);
      return false;
    case 'n':
      if (cur && cur->request == 'D' && cur->portal) m.portals[*cur->portal] = RowPlan{};
      return false;
    case 'D': {
      if (catalog || !m.masks) {
        if (catalog) catalog_row(m, msg);
        return false;
      }
      static const RowPlan unknown{nullptr, {}, true, true};
      const RowPlan* plan = &unknown;
      if (cur && cur->request == 'Q') plan = &m.simple;
      if (cur && cur->request == 'E' && cur->portal) {
        auto it = m.portals.find(*cur->portal);
        if (it != m.portals.end()) plan = &it->second;
      }
      bool computed = cur && cur->masks_computed;
      if (!(computed ? plan->any_computed : plan->any)) return false;
      RowPlan withheld{m.masks, {}, true, true};
      return mask_row(m, host, plan->masks ? *plan : withheld, computed, msg);
    }
    case 'H':
      if (m.masks) start_copy(m, host, cur, msg);
      return false;
    case 'd':
      return m.copying && mask_copy_row(m, host, msg);
    case 'c':
      m.copying = false;
      return false;
    case 'E':
      m.copying = false;
      if (catalog && !m.incoming.empty()) m.incoming.front().failed = true;
      return false;
    case 'Z':
      if (catalog) catalog_done(m);
      return false;
  }
  return false;
}

void masking_catalog_skipped(Masking& m) {
  if (m.incoming.empty()) return;
  m.incoming.pop_front();
  m.refresh = true;
}

void masking_on_ready(Masking& m, char tx_status, int outstanding) {
  if (!m.ddl || tx_status != 'I') return;
  g_generation.fetch_add(1, std::memory_order_acq_rel);
  if (outstanding == 0) m.ddl = false;
}

}  // namespace pgw
