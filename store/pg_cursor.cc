#include "store/pg_cursor.h"

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>

namespace pgw::store {
namespace {

constexpr Oid kByteaOid = 17;

// Names cursors apart, so that a reader may keep several open in its transaction.
std::string next_cursor_name() {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("pgwarden_reader_{}", ++counter);
}

}  // namespace

PgConn open_pg_reader(const PgLocation& where, std::string* error) {
  PgConn conn = pg_connect(where.dsn, where.describe(), error);
  if (!conn || !check_pg_schema(conn.get(), where, error) ||
      !begin_pg_read(conn.get(), where, error)) {
    return nullptr;
  }
  return conn;
}

bool begin_pg_read(PGconn* conn, const PgLocation& where, std::string* error) {
  return pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}, where.describe(),
                 error) != nullptr;
}

PgCursor::PgCursor(PGconn* conn, std::string sql, std::vector<std::string> params,
                   std::string what)
    : conn_(conn), sql_(std::move(sql)), params_(std::move(params)), what_(std::move(what)) {}

PgCursor::~PgCursor() {
  if (name_.empty()) return;
  std::string ignored;
  pg_exec(conn_, "CLOSE " + name_, {}, what_, &ignored);
}

const Columns* PgCursor::next(std::string* error) {
  if (batch_ && ++row_ < PQntuples(batch_.get())) return this;
  if (done_) return nullptr;
  if (name_.empty()) {
    std::string name = next_cursor_name();
    if (!pg_exec(conn_, fmt::format("DECLARE {} NO SCROLL CURSOR FOR {}", name, sql_), params_,
                 what_, error)) {
      return nullptr;
    }
    name_ = std::move(name);
  }
  batch_ = pg_exec(conn_, fmt::format("FETCH {} FROM {}", kBatch, name_), {}, what_, error);
  if (!batch_) return nullptr;
  row_ = 0;
  done_ = PQntuples(batch_.get()) < kBatch;
  return row_ < PQntuples(batch_.get()) ? this : nullptr;
}

std::string PgCursor::text(int col) const {
  if (PQftype(batch_.get(), col) == kByteaOid) return pg_bytea(batch_.get(), row_, col);
  return pg_text(batch_.get(), row_, col);
}

double PgCursor::real(int col) const {
  if (null(col)) return 0;
  return std::strtod(PQgetvalue(batch_.get(), row_, col), nullptr);
}

}  // namespace pgw::store
