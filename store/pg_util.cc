#include "store/pg_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "store/text_format.h"

namespace pgw::store {

bool is_postgres_location(std::string_view store) {
  return store.starts_with("postgresql://") || store.starts_with("postgres://");
}

PgConn pg_connect(const std::string& dsn, std::string_view what, std::string* error) {
  // The DSN's own settings win: these come first and the expanded DSN overrides them.
  std::string timeout = std::to_string(kPgStoreTimeout.count());
  // A store that stops answering (its host gone, a network partition) is noticed within about
  // kPgStoreTimeout too, not only when the kernel gives up on the connection.
  std::string user_timeout = std::to_string(1000 * kPgStoreTimeout.count());
  const char* keys[] = {"connect_timeout", "tcp_user_timeout", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "application_name", "dbname",
                        nullptr};
  const char* values[] = {timeout.c_str(), user_timeout.c_str(), "5", "2", "2", "pgwarden",
                          dsn.c_str(), nullptr};
  PgConn conn(PQconnectdbParams(keys, values, 1));
  if (!conn) {
    *error = fmt::format("audit store {}: cannot connect: out of memory", what);
    return nullptr;
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    *error = pg_error(conn.get(), what, "cannot connect");
    return nullptr;
  }
  return conn;
}

std::string pg_error(PGconn* conn, std::string_view what, std::string_view doing) {
  std::string message = conn ? PQerrorMessage(conn) : "no connection";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  return fmt::format("audit store {}: {}: {}", what, doing, message);
}

PgResult pg_exec(PGconn* conn, const std::string& sql, const std::vector<std::string>& params,
                 std::string_view what, std::string* error) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  // Without parameters, `sql` may hold several statements (the schema's DDL).
  PgResult res(params.empty() ? PQexec(conn, sql.c_str())
                              : PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()),
                                             nullptr, values.data(), nullptr, nullptr, 0));
  ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return res;
  std::string message = res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  *error = fmt::format("audit store {}: {}", what, message);
  return nullptr;
}

std::string pg_ident(PGconn* conn, const std::string& name) {
  char* quoted = PQescapeIdentifier(conn, name.data(), name.size());
  if (!quoted) return "\"" + name + "\"";
  std::string out = quoted;
  PQfreemem(quoted);
  return out;
}

std::string pg_bytea(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return {};
  size_t len = 0;
  unsigned char* bytes =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(res, row, col)), &len);
  if (!bytes) return {};
  std::string out(reinterpret_cast<char*>(bytes), len);
  PQfreemem(bytes);
  return out;
}

std::string_view pg_storable(std::string_view value, std::string* copy) {
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return c != 0 && static_cast<unsigned char>(c) < 0x80; })) {
    return value;
  }
  std::string fixed = valid_utf8(value);
  for (size_t nul; (nul = fixed.find('\0')) != std::string::npos;) {
    fixed.replace(nul, 1, "\xEF\xBF\xBD");
  }
  if (fixed == value) return value;
  *copy = std::move(fixed);
  return *copy;
}

int64_t pg_int(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return 0;
  return std::strtoll(PQgetvalue(res, row, col), nullptr, 10);
}

std::string pg_bytea_text(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + 2 * bytes.size());
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string redact_dsn(const std::string& dsn) {
  // postgresql://user:password@host/... : the password sits between the first ':' after the
  // scheme and the '@'.
  size_t scheme = dsn.find("://");
  if (scheme != std::string::npos) {
    size_t at = dsn.find('@', scheme + 3);
    size_t colon = dsn.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      return dsn.substr(0, colon + 1) + "***" + dsn.substr(at);
    }
    return dsn;
  }
  size_t pw = dsn.find("password=");
  if (pw == std::string::npos) return dsn;
  size_t end = dsn.find(' ', pw);
  return dsn.substr(0, pw) + "password=***" + (end == std::string::npos ? "" : dsn.substr(end));
}

}  // namespace pgw::store
