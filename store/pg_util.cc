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
  // The store's notices (its shutdown's, say) are for its own log, not pgwarden's stderr.
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

bool pg_bound_statements(PGconn* conn, std::string_view what, std::string* error) {
  return pg_exec(conn, "SELECT pg_catalog.set_config('statement_timeout', $1, false)",
                 {std::to_string(1000 * kPgStoreTimeout.count())}, what, error) != nullptr;
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

namespace {

// The settings whose values are secrets, in either form of a connection string.
bool secret_setting(std::string_view key) { return key == "password" || key == "sslpassword"; }

bool conninfo_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// postgresql://user:password@host:port/db?password=...&sslpassword=...
std::string redact_uri(const std::string& dsn) {
  std::string out;
  size_t scheme = dsn.find("://") + 3;
  size_t authority_end = std::min(dsn.find_first_of("/?", scheme), dsn.size());
  size_t at = dsn.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
  size_t colon = at == std::string::npos || at < scheme ? std::string::npos : dsn.find(':', scheme);
  if (colon != std::string::npos && colon < at) {
    out = dsn.substr(0, colon + 1) + "***" + dsn.substr(at, authority_end - at);
  } else {
    out = dsn.substr(0, authority_end);
  }
  size_t query = dsn.find('?', authority_end);
  size_t path_end = query == std::string::npos ? dsn.size() : query;
  out += dsn.substr(authority_end, path_end - authority_end);
  if (query == std::string::npos) return out;
  out += '?';
  size_t pos = query + 1;
  while (pos <= dsn.size()) {
    size_t end = std::min(dsn.find('&', pos), dsn.size());
    std::string_view param = std::string_view(dsn).substr(pos, end - pos);
    size_t eq = param.find('=');
    if (eq != std::string_view::npos && secret_setting(param.substr(0, eq))) {
      out.append(param.substr(0, eq + 1)).append("***");
    } else {
      out.append(param);
    }
    if (end < dsn.size()) out += '&';
    pos = end + 1;
  }
  return out;
}

// host=... password = 'a \' b' ...: parsed as libpq parses it; a string libpq would refuse is
// cut where it stops making sense, so that nothing after it can leak.
std::string redact_keywords(const std::string& dsn) {
  std::string out;
  size_t pos = 0, n = dsn.size();
  while (pos < n) {
    size_t start = pos;
    while (pos < n && conninfo_space(dsn[pos])) ++pos;
    if (pos == n) break;
    size_t key_start = pos;
    while (pos < n && dsn[pos] != '=' && !conninfo_space(dsn[pos])) ++pos;
    std::string_view key = std::string_view(dsn).substr(key_start, pos - key_start);
    while (pos < n && conninfo_space(dsn[pos])) ++pos;
    if (pos == n || dsn[pos] != '=') return out + " ***";
    ++pos;
    while (pos < n && conninfo_space(dsn[pos])) ++pos;
    size_t value_start = pos;
    if (pos < n && dsn[pos] == '\'') {
      for (++pos; pos < n && dsn[pos] != '\''; ++pos) {
        if (dsn[pos] == '\\') ++pos;
      }
      if (pos >= n) return out + dsn.substr(start, value_start - start) + "***";
      ++pos;  // the closing quote
    } else {
      for (; pos < n && !conninfo_space(dsn[pos]); ++pos) {
        if (dsn[pos] == '\\') ++pos;
      }
      pos = std::min(pos, n);
    }
    out += dsn.substr(start, value_start - start);
    out += secret_setting(key) ? std::string("***") : dsn.substr(value_start, pos - value_start);
  }
  return out + dsn.substr(std::min(pos, n));
}

}  // namespace

std::string redact_dsn(const std::string& dsn) {
  return is_postgres_location(dsn) ? redact_uri(dsn) : redact_keywords(dsn);
}

}  // namespace pgw::store
