#include "store/pg_schema.h"

#include <fmt/format.h>

namespace pgw::store {
namespace {

constexpr const char* kPgFormat = "pgwarden-audit-pg-1";

// The tables, in the schema named by search_path. Rows of sessions, statements, outcomes,
// approvals and votes are never updated or deleted by pgwarden (the triggers stop accidents, the
// chains find deliberate edits; a prune deletes what its anchor covers, kAnchorSql); audit_instance
// is the one table pgwarden updates: each instance's chain heads and the number of its last session
// row, at every commit.
constexpr const char* kCreateSql = R"sql(
CREATE TABLE audit_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE audit_instance (
  name text PRIMARY KEY,
  record_seq bigint NOT NULL DEFAULT 0,
  outcome_seq bigint NOT NULL DEFAULT 0,
  session_seq bigint NOT NULL DEFAULT 0,
  started_us bigint NOT NULL,
  seen_us bigint NOT NULL
);
CREATE TABLE audit_session (
  instance text NOT NULL,
  id bigint NOT NULL,
  session_id text,
  principal text,
  attribution text,
  job_id text,
  commit_ref text,
  client_addr text,
  database_name text,
  upstream_role text,
  application_name text,
  PRIMARY KEY (instance, id)
);
CREATE TABLE audit_statement (
  instance text NOT NULL,
  seq bigint NOT NULL,
  session bigint NOT NULL,
  ts_us bigint NOT NULL,
  protocol text,
  command text,
  classes text,
  tables_read text,
  tables_written text,
  fingerprint text,
  statement bytea,
  parameters text,
  decision text,
  rule text,
  approver text,
  expires_us bigint,
  hash bytea NOT NULL,
  PRIMARY KEY (instance, seq)
);
CREATE INDEX audit_holds ON audit_statement (instance, seq) WHERE decision = 'hold';
CREATE TABLE audit_outcome (
  instance text NOT NULL,
  seq bigint NOT NULL,
  prev bigint NOT NULL,
  row_count bigint,
  sqlstate text,
  error text,
  duration_ms double precision,
  masked_values bigint,
  decision text,
  approver text,
  hash bytea NOT NULL,
  PRIMARY KEY (instance, seq)
);
CREATE TABLE approval (
  id bigserial PRIMARY KEY,
  instance text NOT NULL,
  seq bigint NOT NULL,
  approvers text NOT NULL,
  required integer NOT NULL,
  UNIQUE (instance, seq)
);
CREATE TABLE approval_vote (
  id bigserial PRIMARY KEY,
  approval bigint NOT NULL REFERENCES approval (id),
  verdict text NOT NULL CHECK (verdict IN ('approve', 'reject', 'withdraw')),
  principal text NOT NULL,
  reason text NOT NULL DEFAULT '',
  from_instance text NOT NULL,
  ts_us bigint NOT NULL
);
CREATE INDEX approval_vote_approval ON approval_vote (approval);
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER audit_session_append_only BEFORE UPDATE OR DELETE ON audit_session
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER approval_append_only BEFORE UPDATE OR DELETE ON approval
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER approval_vote_append_only BEFORE UPDATE OR DELETE ON approval_vote
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
)sql";

// Prunes (SPEC section 13): audit_anchor, each instance's anchors, and the rule that a record or
// outcome may be deleted only once an anchor of its instance covers it. A prune commits its anchor
// first, then deletes what it covers in short transactions of its own; the rows nobody pruned stay
// undeletable for everyone. Added to a store written before prunes by the first pgwarden (or
// prune) that opens it for writing, replacing the triggers that refused every delete.
constexpr const char* kAnchorSql = R"sql(
CREATE TABLE audit_anchor (
  instance text NOT NULL,
  number bigint NOT NULL,
  first_seq bigint NOT NULL,
  last_seq bigint NOT NULL,
  before_us bigint NOT NULL,
  pruned_us bigint NOT NULL,
  records bigint NOT NULL,
  outcomes bigint NOT NULL,
  record_hash bytea NOT NULL,
  outcome_seq bigint NOT NULL,
  outcome_hash bytea NOT NULL,
  hash bytea NOT NULL,
  PRIMARY KEY (instance, number)
);
CREATE TRIGGER audit_anchor_append_only BEFORE UPDATE OR DELETE ON audit_anchor
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE FUNCTION refuse_unanchored_delete() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  IF OLD.seq <= (SELECT coalesce(max(last_seq), 0) FROM audit_anchor
                 WHERE instance = OLD.instance) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% is append-only (a prune deletes what its anchor covers)', TG_TABLE_NAME;
END $$;
DROP TRIGGER IF EXISTS audit_statement_append_only ON audit_statement;
DROP TRIGGER IF EXISTS audit_outcome_append_only ON audit_outcome;
CREATE TRIGGER audit_statement_append_only BEFORE UPDATE ON audit_statement
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_statement_pruned_only BEFORE DELETE ON audit_statement
  FOR EACH ROW EXECUTE FUNCTION refuse_unanchored_delete();
CREATE TRIGGER audit_outcome_append_only BEFORE UPDATE ON audit_outcome
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_outcome_pruned_only BEFORE DELETE ON audit_outcome
  FOR EACH ROW EXECUTE FUNCTION refuse_unanchored_delete();
)sql";

// Points the connection's search_path at the store's schema (and nothing else but pg_catalog).
bool use_schema(PGconn* conn, const PgLocation& where, std::string* error) {
  return pg_exec(conn, "SELECT pg_catalog.set_config('search_path', $1, false)",
                 {pg_ident(conn, where.schema)}, where.describe(), error) != nullptr;
}

std::optional<std::string> meta(PGconn* conn, const PgLocation& where, const std::string& key,
                                std::string* error) {
  PgResult res = pg_exec(conn, "SELECT value FROM audit_meta WHERE key = $1", {key},
                         where.describe(), error);
  if (!res || PQntuples(res.get()) == 0) return std::nullopt;
  return pg_text(res.get(), 0, 0);
}

// Whether the schema holds the table (audit_meta: whether it holds a store).
std::optional<bool> has_table(PGconn* conn, const PgLocation& where, const char* table,
                              std::string* error) {
  PgResult res = pg_exec(conn,
                         "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 AND "
                         "tablename = $2",
                         {where.schema, table}, where.describe(), error);
  if (!res) return std::nullopt;
  return pg_int(res.get(), 0, 0) > 0;
}

std::optional<bool> has_store(PGconn* conn, const PgLocation& where, std::string* error) {
  return has_table(conn, where, "audit_meta", error);
}

// Adds audit_anchor to a store written before prunes (in the caller's transaction), if the role
// may: a writer that may not goes on writing (only prunes need it, and say so).
bool add_anchors(PGconn* conn, const PgLocation& where, std::string* error) {
  const std::string what = where.describe();
  std::optional<bool> has = has_table(conn, where, "audit_anchor", error);
  if (!has || *has) return has.has_value();
  if (!pg_exec(conn, "SAVEPOINT add_anchors", {}, what, error)) return false;
  std::string refused;
  if (pg_exec(conn, kAnchorSql, {}, what, &refused)) {
    return pg_exec(conn, "RELEASE SAVEPOINT add_anchors", {}, what, error) != nullptr;
  }
  return pg_exec(conn, "ROLLBACK TO SAVEPOINT add_anchors", {}, what, error) != nullptr;
}

bool check_format(PGconn* conn, const PgLocation& where, std::string* error) {
  std::string format = meta(conn, where, "format", error).value_or("");
  if (format == kPgFormat) return true;
  if (error->empty()) {
    *error = fmt::format("audit store {}: schema {} is not a pgwarden audit store of format {} "
                         "(it says \"{}\")",
                         where.describe(), where.schema, kPgFormat, format);
  }
  return false;
}

bool create_fresh(PGconn* conn, const PgLocation& where, const std::string& chain,
                  const std::string& key_check, std::string* error) {
  const std::string what = where.describe();
  std::string sql = fmt::format("CREATE SCHEMA IF NOT EXISTS {}", pg_ident(conn, where.schema));
  if (!pg_exec(conn, sql, {}, what, error) || !use_schema(conn, where, error) ||
      !pg_exec(conn, kCreateSql, {}, what, error) || !pg_exec(conn, kAnchorSql, {}, what, error)) {
    return false;
  }
  for (auto [key, value] : {std::pair{"format", std::string(kPgFormat)}, {"chain", chain},
                            {"key_check", key_check}}) {
    if (!pg_exec(conn, "INSERT INTO audit_meta (key, value) VALUES ($1, $2)", {key, value}, what,
                 error)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string PgLocation::describe() const {
  return fmt::format("{} (schema {})", redact_dsn(dsn), schema);
}

bool create_pg_schema(PGconn* conn, const PgLocation& where, const std::string& chain,
                      const std::string& key_check, std::string* error) {
  const std::string what = where.describe();
  // Two instances starting at once on an empty database: one creates, the other then checks.
  if (!pg_exec(conn, "BEGIN", {}, what, error)) return false;
  bool ok = pg_exec(conn, "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1))",
                    {"pgwarden schema " + where.schema}, what, error) != nullptr;
  std::optional<bool> exists = ok ? has_store(conn, where, error) : std::nullopt;
  ok = exists && (*exists ? use_schema(conn, where, error) && add_anchors(conn, where, error)
                          : create_fresh(conn, where, chain, key_check, error));
  ok = ok && pg_exec(conn, "COMMIT", {}, what, error);
  if (!ok) {
    std::string ignored;
    pg_exec(conn, "ROLLBACK", {}, what, &ignored);
    return false;
  }
  if (!check_format(conn, where, error)) return false;
  std::string stored_chain = meta(conn, where, "chain", error).value_or("");
  if (stored_chain != chain) {
    *error = chain == "sha256"
                 ? fmt::format("audit store {}: its chain is an HMAC; configure its key "
                               "(audit.hmac_key_file)",
                               what)
                 : fmt::format("audit store {}: its chain is \"{}\", not keyed with the "
                               "configured audit.hmac_key_file",
                               what, stored_chain);
    return false;
  }
  if (meta(conn, where, "key_check", error).value_or("") != key_check) {
    *error = fmt::format("audit store {}: audit.hmac_key_file is not the key the store was "
                         "written with",
                         what);
    return false;
  }
  return true;
}

bool has_pg_anchors(PGconn* conn, const PgLocation& where, std::string* error) {
  return has_table(conn, where, "audit_anchor", error).value_or(false);
}

bool check_pg_schema(PGconn* conn, const PgLocation& where, std::string* error) {
  std::optional<bool> exists = has_store(conn, where, error);
  if (!exists) return false;
  if (!*exists) {
    *error = fmt::format("audit store {}: no pgwarden audit store in schema {}",
                         where.describe(), where.schema);
    return false;
  }
  return use_schema(conn, where, error) && check_format(conn, where, error);
}

namespace {
// The key of the lock that keeps an instance's name to one process, and of the one that says it
// is live.
std::string lock_key(const PgLocation& where, const std::string& instance) {
  return "pgwarden instance " + where.schema + " " + instance;
}
std::string live_key(const PgLocation& where, const std::string& instance) {
  return "pgwarden live " + where.schema + " " + instance;
}
}  // namespace

bool lock_instance(PGconn* conn, const PgLocation& where, const std::string& instance,
                   std::string* error) {
  PgResult res = pg_exec(conn,
                         "SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtextextended($1, "
                         "0))",
                         {lock_key(where, instance)}, where.describe(), error);
  if (!res) return false;
  if (pg_text(res.get(), 0, 0) == "t") return true;
  *error = fmt::format("audit store {}: instance \"{}\" is live elsewhere (another pgwarden "
                       "holds its name); give each instance its own audit.instance",
                       where.describe(), instance);
  return false;
}

bool end_abandoned_session(PGconn* conn, const PgLocation& where, const std::string& instance,
                           int pid, std::string* error) {
  // A bigint advisory lock shows in pg_locks as its high and low 32 bits.
  return pg_exec(conn,
                 "SELECT pg_catalog.pg_terminate_backend(l.pid, $3) FROM pg_catalog.pg_locks l, "
                 "pg_catalog.hashtextextended($2, 0) AS k WHERE l.locktype = 'advisory' AND "
                 "l.granted AND l.pid = $1 AND l.objsubid = 1 AND "
                 "l.classid = ((k >> 32) & 4294967295)::oid AND l.objid = (k & 4294967295)::oid",
                 {std::to_string(pid), lock_key(where, instance),
                  std::to_string(1000 * kPgStoreTimeout.count())},
                 where.describe(), error) != nullptr;
}

bool announce_live(PGconn* conn, const PgLocation& where, const std::string& instance,
                   std::string* error) {
  return pg_exec(conn,
                 "SELECT pg_catalog.pg_advisory_lock_shared(pg_catalog.hashtextextended($1, 0))",
                 {live_key(where, instance)}, where.describe(), error) != nullptr;
}

std::optional<bool> instance_live(PGconn* conn, const PgLocation& where,
                                  const std::string& instance, std::string* error) {
  // Taking the lock and giving it back at once: possible only if no live instance holds it.
  PgResult res = pg_exec(conn,
                         "SELECT pg_catalog.pg_try_advisory_lock(k) AND "
                         "pg_catalog.pg_advisory_unlock(k) FROM "
                         "pg_catalog.hashtextextended($1, 0) AS k",
                         {live_key(where, instance)}, where.describe(), error);
  if (!res) return std::nullopt;
  return pg_text(res.get(), 0, 0) != "t";
}

std::string approvals_channel(const PgLocation& where) { return "pgwarden_" + where.schema; }

}  // namespace pgw::store
