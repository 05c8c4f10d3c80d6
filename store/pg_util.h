// Owners of libpq handles and the few helpers every part of the store that talks to a PostgreSQL
// store needs: where the store is (a `postgresql://` URI or a configured DSN), connecting with a
// bound on the time it may take, and errors in the one form the store reports them.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pgw::store {

struct PgConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;

struct PgResultClearer {
  void operator()(PGresult* res) const { PQclear(res); }
};
using PgResult = std::unique_ptr<PGresult, PgResultClearer>;

// Whether `store` (a `--store` argument) names a PostgreSQL store rather than a SQLite file.
bool is_postgres_location(std::string_view store);

// The default schema of a PostgreSQL store.
inline constexpr const char* kDefaultPgSchema = "pgwarden";

// How long the store may take to connect or to answer before pgwarden gives up on it (statements
// are then refused with 58030 until it answers again).
inline constexpr std::chrono::seconds kPgStoreTimeout{5};

// Connects to `dsn` (a URI or key=value string) within kPgStoreTimeout; null and `error` set
// (naming `what`) if that fails. `application_name` tells the store's DBA who is connected.
PgConn pg_connect(const std::string& dsn, std::string_view what, std::string* error);

// Has the store end any statement of this connection that runs past kPgStoreTimeout (one waiting
// for a lock, say), for a connection whose every wait must be bounded (the writer's, the approval
// exchange's); the readers' long scans are not.
bool pg_bound_statements(PGconn* conn, std::string_view what, std::string* error);

// "audit store <what>: <doing>: <libpq's message>", the form of every PostgreSQL store error.
std::string pg_error(PGconn* conn, std::string_view what, std::string_view doing);

// Runs `sql` with text parameters (several statements if there are none); the result, or null with `error` set if it did not succeed.
PgResult pg_exec(PGconn* conn, const std::string& sql, const std::vector<std::string>& params,
                 std::string_view what, std::string* error);

// `name` quoted as an SQL identifier.
std::string pg_ident(PGconn* conn, const std::string& name);

// A text column's value; empty for NULL.
inline std::string pg_text(const PGresult* res, int row, int col) {
  return std::string(PQgetvalue(res, row, col), PQgetlength(res, row, col));
}
// `value`, or a copy with every byte that is not valid UTF-8, and every NUL, replaced by U+FFFD:
// what a text column accepts.
std::string_view pg_storable(std::string_view value, std::string* copy);
// A bytea column in text format (`\x...`) decoded to its bytes.
std::string pg_bytea(const PGresult* res, int row, int col);
// An integer column; 0 for NULL.
int64_t pg_int(const PGresult* res, int row, int col);

// `bytes` as a bytea literal in text format (`\x` and hex).
std::string pg_bytea_text(std::string_view bytes);

// A connection string (URI or keywords) with every password and sslpassword value replaced by
// `***`, for messages.
std::string redact_dsn(const std::string& dsn);

}  // namespace pgw::store
