// export_audit: the records joined with their sessions and outcomes, streamed in seq order as CSV or JSONL.
#include <fmt/format.h>

#include <array>

#include "store/audit.h"
#include "store/chain.h"
#include "store/schema.h"
#include "store/text_format.h"

namespace pgw::store {
namespace {

// SPEC section 9's columns, in order. The JSON numbers are marked: they are written bare, or
// null when empty; every other column is a string.
struct Column {
  const char* name;
  bool json_number;
};
constexpr std::array<Column, 29> kColumns{{
    {"seq", true},           {"ts", false},           {"principal", false},
    {"attribution", false},  {"job_id", false},       {"commit", false},
    {"session_id", false},   {"client_addr", false},  {"database", false},
    {"upstream_role", false}, {"application_name", false}, {"protocol", false},
    {"command", false},      {"classes", false},      {"tables_read", false},
    {"tables_written", false}, {"fingerprint", false}, {"statement", false},
    {"parameters", false},   {"decision", false},     {"rule", false},
    {"approver", false},     {"rows", true},          {"sqlstate", false},
    {"error", false},        {"duration_ms", true},   {"masked_values", true},
    {"hash", false},         {"instance", false},
}};
using Cells = std::array<std::string, kColumns.size()>;

// One select column per export column: the record, its session and its outcome if it has one.
// An outcome's decision and approver replace the record's when set.
constexpr const char* kSelect = R"sql(
SELECT r.seq, r.ts_us, s.principal, s.attribution, s.job_id, s.commit_ref, s.session_id,
  s.client_addr, s.database_name, s.upstream_role, s.application_name, r.protocol, r.command,
  r.classes, r.tables_read, r.tables_written, r.fingerprint, r.statement, r.parameters,
  coalesce(nullif(o.decision, ''), r.decision), r.rule,
  coalesce(nullif(o.approver, ''), r.approver), o.row_count, o.sqlstate, o.error,
  o.duration_ms, o.masked_values, r.hash, s.instance
FROM audit_statement r
LEFT JOIN audit_session s ON s.id = r.session
LEFT JOIN audit_outcome o ON o.seq = r.seq
WHERE true)sql";

// The WHERE terms for the filters that are set; parameters are bound in this order.
std::string filter_sql(const ExportFilter& f) {
  std::string sql = kSelect;
  if (f.since_us) sql += " AND r.ts_us >= :since";
  if (f.until_us) sql += " AND r.ts_us < :until";
  if (!f.principal_glob.empty()) sql += " AND s.principal GLOB :principal";
  if (!f.job_id.empty()) sql += " AND s.job_id = :job";
  if (!f.decision.empty()) sql += " AND coalesce(nullif(o.decision, ''), r.decision) = :decision";
  return sql + " ORDER BY r.seq";
}

// A principal glob where only `*` is special, in SQLite GLOB syntax (which also knows ? and [).
std::string sqlite_glob(const std::string& glob) {
  std::string out;
  for (char c : glob) {
    if (c == '?') {
      out += "[?]";
    } else if (c == '[') {
      out += "[[]";
    } else {
      out += c;
    }
  }
  return out;
}

void bind_filter(sqlite3_stmt* stmt, const ExportFilter& f, std::string* glob) {
  auto index = [stmt](const char* name) { return sqlite3_bind_parameter_index(stmt, name); };
  if (f.since_us) sqlite3_bind_int64(stmt, index(":since"), *f.since_us);
  if (f.until_us) sqlite3_bind_int64(stmt, index(":until"), *f.until_us);
  *glob = sqlite_glob(f.principal_glob);
  if (!glob->empty()) bind_string(stmt, index(":principal"), *glob);
  if (!f.job_id.empty()) bind_string(stmt, index(":job"), f.job_id);
  if (!f.decision.empty()) bind_string(stmt, index(":decision"), f.decision);
}

void read_cells(sqlite3_stmt* stmt, Cells* cells) {
  for (int i = 0; i < static_cast<int>(cells->size()); ++i) {
    (*cells)[i] = column_string(stmt, i);
  }
  (*cells)[1] = format_ts(sqlite3_column_int64(stmt, 1));
  if (sqlite3_column_type(stmt, 25) != SQLITE_NULL) {
    (*cells)[25] = fmt::format("{:.3f}", sqlite3_column_double(stmt, 25));
  }
  (*cells)[27] = to_hex(column_string(stmt, 27));
}

// Writes one CSV record of any array of kColumns.size() strings (the header or a row).
template <typename Row>
void write_csv_row(std::ostream& out, const Row& cells) {
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out << ',';
    write_csv_field(out, cells[i]);
  }
  out << "\r\n";
}

void write_json_row(std::ostream& out, const Cells& cells) {
  out << '{';
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out << ',';
    out << '"' << kColumns[i].name << "\":";
    if (!kColumns[i].json_number) {
      write_json_string(out, cells[i]);
    } else if (cells[i].empty()) {
      out << "null";
    } else {
      out << cells[i];
    }
  }
  out << "}\n";
}

}  // namespace

bool export_audit(const std::string& path, const ExportFilter& filter, ExportFormat format,
                  std::ostream& out, std::string* error) {
  Db db = open_db(path, false, error);
  if (!db || !check_schema(db.get(), path, error)) return false;
  Stmt stmt = prepare(db.get(), filter_sql(filter), path, error);
  if (!stmt) return false;
  std::string glob;
  bind_filter(stmt.get(), filter, &glob);
  if (format == ExportFormat::csv) {
    std::array<std::string_view, kColumns.size()> header;
    for (size_t i = 0; i < header.size(); ++i) header[i] = kColumns[i].name;
    write_csv_row(out, header);
  }
  Cells cells;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    read_cells(stmt.get(), &cells);
    if (format == ExportFormat::csv) {
      write_csv_row(out, cells);
    } else {
      write_json_row(out, cells);
    }
  }
  if (rc != SQLITE_DONE) {
    *error = db_error(db.get(), path, "cannot read the records");
    return false;
  }
  out.flush();
  if (!out) {
    *error = fmt::format("audit store {}: cannot write the export", path);
    return false;
  }
  return true;
}

}  // namespace pgw::store
