// export_audit: the records joined with their sessions and outcomes, streamed in seq order (a
// PostgreSQL store's instances merged in time order) as CSV or JSONL. One query and one writer
// serve both backends, and `audit export --follow` (follow.cc).
#include <fmt/format.h>

#include <array>
#include <functional>
#include <variant>
#include <vector>

#include "store/audit.h"
#include "store/chain.h"
#include "store/cursor.h"
#include "store/export_rows.h"
#include "store/pg_cursor.h"
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
constexpr std::array<Column, kExportColumns> kColumns{{
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

// The same as a LIKE pattern (whose escape character is the backslash).
std::string like_pattern(const std::string& glob) {
  std::string out;
  for (char c : glob) {
    if (c == '*') {
      out += '%';
    } else {
      if (c == '%' || c == '_' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out;
}

// One select column per export column: the record, its session and its outcome if it has one.
// An outcome's decision and approver replace the record's when set. A PostgreSQL store joins on
// the instance too, and orders every instance's rows by time.
struct Dialect {
  const char* same_instance_s;  // join terms beyond the seq (the session's id)
  const char* same_instance_o;
  const char* instance;  // the instance column
  const char* glob_op;   // GLOB or LIKE, and the pattern it takes for a principal glob
  std::string (*pattern)(const std::string& glob);
  const char* order;
};
constexpr Dialect kSqlite{"", "", "s.instance", "GLOB", sqlite_glob, "r.seq"};
constexpr Dialect kPostgres{" AND s.instance = r.instance", " AND o.instance = r.instance",
                            "r.instance", "LIKE", like_pattern, "r.ts_us, r.instance, r.seq"};

const Dialect& dialect(Backend backend) {
  return backend == Backend::postgresql ? kPostgres : kSqlite;
}

constexpr const char* kSelect = R"sql(
SELECT r.seq, r.ts_us, s.principal, s.attribution, s.job_id, s.commit_ref, s.session_id,
  s.client_addr, s.database_name, s.upstream_role, s.application_name, r.protocol, r.command,
  r.classes, r.tables_read, r.tables_written, r.fingerprint, r.statement, r.parameters,
  coalesce(nullif(o.decision, ''), r.decision), r.rule,
  coalesce(nullif(o.approver, ''), r.approver), o.row_count, o.sqlstate, o.error,
  o.duration_ms, o.masked_values, r.hash, {instance}
FROM audit_statement r
LEFT JOIN audit_session s ON s.id = r.session{same_s}
LEFT JOIN audit_outcome o ON {outcome_join}
WHERE true)sql";

void read_cells(const Columns& row, ExportCells* cells) {
  for (int i = 0; i < static_cast<int>(cells->size()); ++i) {
    (*cells)[i] = row.text(i);
  }
  (*cells)[1] = format_ts(row.integer(1));
  if (!row.null(25)) (*cells)[25] = fmt::format("{:.3f}", row.real(25));
  (*cells)[27] = to_hex(row.text(27));
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

void write_json_row(std::ostream& out, const ExportCells& cells) {
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

// Writes the header (CSV) and every row of `rows`; false and `error` set if the store cannot be
// read (nothing written if the query fails), or the export written.
bool write_export(RowCursor& rows, ExportFormat format, const std::string& what,
                  std::ostream& out, std::string* error) {
  const Columns* row = rows.next(error);
  if (!error->empty()) return false;
  RowWriter writer(format, out);
  writer.header();
  for (; row; row = rows.next(error)) writer.row(*row);
  if (!error->empty()) return false;
  out.flush();
  if (!out) {
    *error = fmt::format("audit store {}: cannot write the export", what);
    return false;
  }
  return true;
}

// Hands the rows of the export query of `filter`, in export order, to `consume`, with the store
// as messages name it; false and `error` set if the store cannot be read.
using RowConsumer = std::function<bool(RowCursor& rows, const std::string& what, std::string* error)>;
bool consume_export_rows(const StoreLocation& store, const ExportFilter& filter,
                         const RowConsumer& consume, std::string* error) {
  if (store.backend == Backend::postgresql) {
    const PgLocation where{store.dsn, store.schema};
    PgConn conn = open_pg_reader(where, error);
    if (!conn) return false;
    Query query = export_query(Backend::postgresql, filter);
    query.sql += " ORDER BY " + std::string(kPostgres.order);
    std::unique_ptr<RowCursor> rows = pg_rows(conn.get(), query, where.describe());
    return consume(*rows, where.describe(), error);
  }
  Db db = open_db(store.path, false, error);
  if (!db || !check_schema(db.get(), store.path, error)) return false;
  Query query = export_query(Backend::sqlite, filter);
  query.sql += " ORDER BY " + std::string(kSqlite.order);
  std::unique_ptr<RowCursor> rows = sqlite_rows(db.get(), query, store.path, error);
  return rows && consume(*rows, store.path, error);
}

}  // namespace

void Query::term(std::string_view expr, std::string_view op, QueryValue value) {
  values.push_back(std::move(value));
  sql += fmt::format(" AND {} {} ${}", expr, op, values.size());
}

std::string outcome_join(Backend backend) {
  return std::string("o.seq = r.seq") + dialect(backend).same_instance_o;
}

Query export_query(Backend backend, const ExportFilter& f) {
  const Dialect& d = dialect(backend);
  Query q{fmt::format(kSelect, fmt::arg("instance", d.instance),
                      fmt::arg("same_s", d.same_instance_s),
                      fmt::arg("outcome_join", outcome_join(backend))),
          {}};
  if (f.since_us) q.term("r.ts_us", ">=", *f.since_us);
  if (f.until_us) q.term("r.ts_us", "<", *f.until_us);
  if (!f.principal_glob.empty()) q.term("s.principal", d.glob_op, d.pattern(f.principal_glob));
  if (!f.job_id.empty()) q.term("s.job_id", "=", f.job_id);
  if (!f.decision.empty()) q.term("coalesce(nullif(o.decision, ''), r.decision)", "=", f.decision);
  return q;
}

std::unique_ptr<RowCursor> sqlite_rows(sqlite3* db, const Query& query, const std::string& path,
                                       std::string* error) {
  Stmt stmt = prepare(db, query.sql, path, error);
  if (!stmt) return nullptr;
  for (size_t i = 0; i < query.values.size(); ++i) {
    int index = static_cast<int>(i) + 1;
    if (const int64_t* n = std::get_if<int64_t>(&query.values[i])) {
      sqlite3_bind_int64(stmt.get(), index, *n);
    } else {
      bind_string(stmt.get(), index, std::get<std::string>(query.values[i]));
    }
  }
  return std::make_unique<SqliteCursor>(db, std::move(stmt), path, "the records");
}

std::unique_ptr<RowCursor> pg_rows(PGconn* conn, const Query& query, std::string what) {
  std::vector<std::string> params;
  for (const QueryValue& value : query.values) {
    const int64_t* n = std::get_if<int64_t>(&value);
    params.push_back(n ? std::to_string(*n) : std::get<std::string>(value));
  }
  return std::make_unique<PgCursor>(conn, query.sql, std::move(params), std::move(what));
}

void RowWriter::header() {
  if (format_ != ExportFormat::csv) return;
  std::array<std::string_view, kColumns.size()> names;
  for (size_t i = 0; i < names.size(); ++i) names[i] = kColumns[i].name;
  write_csv_row(out_, names);
}

void RowWriter::row(const Columns& row) {
  read_cells(row, &cells_);
  if (format_ == ExportFormat::csv) {
    write_csv_row(out_, cells_);
  } else {
    write_json_row(out_, cells_);
  }
}

bool export_audit(const StoreLocation& store, const ExportFilter& filter, ExportFormat format,
                  std::ostream& out, std::string* error) {
  return consume_export_rows(
      store, filter,
      [&](RowCursor& rows, const std::string& what, std::string* failure) {
        return write_export(rows, format, what, out, failure);
      },
      error);
}

bool read_audit(const StoreLocation& store, const ExportFilter& filter,
                const std::function<void(const ExportCells&)>& row, std::string* error) {
  return consume_export_rows(
      store, filter,
      [&](RowCursor& rows, const std::string&, std::string* failure) {
        ExportCells cells;
        for (const Columns* r = rows.next(failure); r; r = rows.next(failure)) {
          read_cells(*r, &cells);
          row(cells);
        }
        return failure->empty();
      },
      error);
}

}  // namespace pgw::store
