// prune_postgres: a PostgreSQL store's side of a prune, each instance's chains cut and anchored on
// their own. Every statement is its own transaction; its deletes lock only the rows they delete,
// which no writer touches, so the instances go on writing meanwhile.
#include <fmt/format.h>

#include "store/chain.h"
#include "store/pg_cursor.h"
#include "store/pg_schema.h"
#include "store/prune.h"
#include "store/row.h"

namespace pgw::store {
namespace {

// One instance's chains.
class PgTarget final : public PruneTarget {
 public:
  PgTarget(PGconn* conn, std::string instance, std::string what)
      : conn_(conn), instance_(std::move(instance)), what_(std::move(what)) {}

  bool newest_anchor(std::optional<Anchor>* anchor, std::string* error) override {
    PgResult res = exec(fmt::format("SELECT {} FROM audit_anchor WHERE instance = $1 ORDER BY "
                                    "number DESC LIMIT 1",
                                    kAnchorColumns),
                        {}, error);
    if (!res) return false;
    if (PQntuples(res.get()) == 0) return true;
    Anchor& a = anchor->emplace();
    a.instance = instance_;
    a.number = pg_int(res.get(), 0, 0);
    a.first_seq = pg_int(res.get(), 0, 1);
    a.last_seq = pg_int(res.get(), 0, 2);
    a.before_us = pg_int(res.get(), 0, 3);
    a.pruned_us = pg_int(res.get(), 0, 4);
    a.records = pg_int(res.get(), 0, 5);
    a.outcomes = pg_int(res.get(), 0, 6);
    a.record_hash = pg_bytea(res.get(), 0, 7);
    a.outcome_seq = pg_int(res.get(), 0, 8);
    a.outcome_hash = pg_bytea(res.get(), 0, 9);
    a.hash = pg_bytea(res.get(), 0, 10);
    return true;
  }
  bool head(ChainHead* head, std::string* error) override {
    PgResult res = exec("SELECT record_seq, outcome_seq FROM audit_instance WHERE name = $1", {},
                        error);
    if (!res) return false;
    if (PQntuples(res.get()) == 1) {
      head->record_seq = pg_int(res.get(), 0, 0);
      head->outcome_seq = pg_int(res.get(), 0, 1);
    }
    return true;
  }
  bool first_not_before(int64_t after, int64_t before_us, int64_t* seq,
                        std::string* error) override {
    PgResult res = exec("SELECT coalesce(min(seq), 0) FROM audit_statement WHERE instance = $1 "
                        "AND seq > $2 AND ts_us >= $3",
                        {std::to_string(after), std::to_string(before_us)}, error);
    if (res) *seq = pg_int(res.get(), 0, 0);
    return res != nullptr;
  }
  bool outcome_links(int64_t after, int64_t through,
                     std::vector<std::pair<int64_t, int64_t>>* links,
                     std::string* error) override {
    PgResult res = exec("SELECT seq, prev FROM audit_outcome WHERE instance = $1 AND seq > $2 "
                        "AND seq <= $3",
                        {std::to_string(after), std::to_string(through)}, error);
    if (!res) return false;
    for (int i = 0; i < PQntuples(res.get()); ++i) {
      links->emplace_back(pg_int(res.get(), i, 0), pg_int(res.get(), i, 1));
    }
    return true;
  }
  bool row_hash(RowKind kind, int64_t seq, std::string* hash, std::string* error) override {
    PgResult res = exec(fmt::format("SELECT hash FROM {} WHERE instance = $1 AND seq = $2",
                                    kind == RowKind::record ? "audit_statement" : "audit_outcome"),
                        {std::to_string(seq)}, error);
    if (!res) return false;
    if (PQntuples(res.get()) == 1) {
      *hash = pg_bytea(res.get(), 0, 0);
      return true;
    }
    *error = fmt::format("audit store {}: instance {}: row {} is gone", what_, instance_, seq);
    return false;
  }
  bool insert_anchor(const Anchor& a, std::string* error) override {
    std::vector<std::string> values;
    for (int64_t value : {a.number, a.first_seq, a.last_seq, a.before_us, a.pruned_us, a.records,
                          a.outcomes}) {
      values.push_back(std::to_string(value));
    }
    values.push_back(pg_bytea_text(a.record_hash));
    values.push_back(std::to_string(a.outcome_seq));
    values.push_back(pg_bytea_text(a.outcome_hash));
    values.push_back(pg_bytea_text(a.hash));
    return exec(fmt::format("INSERT INTO audit_anchor (instance, {}) VALUES ($1, $2, $3, $4, $5, "
                            "$6, $7, $8, $9, $10, $11, $12)",
                            kAnchorColumns),
                values, error) != nullptr;
  }
  bool delete_rows(int64_t first, int64_t last, std::string* error) override {
    return exec("WITH o AS (DELETE FROM audit_outcome WHERE instance = $1 AND seq BETWEEN $2 AND "
                "$3) DELETE FROM audit_statement WHERE instance = $1 AND seq BETWEEN $2 AND $3",
                {std::to_string(first), std::to_string(last)}, error) != nullptr;
  }

 private:
  // Runs `sql` with the instance as $1 and `params` after it.
  PgResult exec(const std::string& sql, std::vector<std::string> params, std::string* error) {
    params.insert(params.begin(), instance_);
    return pg_exec(conn_, sql, params, what_, error);
  }

  PGconn* conn_;
  std::string instance_;
  std::string what_;
};

}  // namespace

bool prune_postgres(const StoreLocation& store, const PruneRequest& request, PruneResult* result,
                    std::string* error) {
  const PgLocation where{store.dsn, store.schema};
  const std::string what = where.describe();
  PgConn conn = pg_connect(where.dsn, what, error);
  // Checked first, so that a prune never creates a store; then brought up to date.
  if (!conn || !check_pg_schema(conn.get(), where, error) ||
      !create_pg_schema(conn.get(), where, chain_name(request.hmac_key),
                        key_check(request.hmac_key), error)) {
    return false;
  }
  if (!has_pg_anchors(conn.get(), where, error)) {
    if (error->empty()) {
      *error = fmt::format("audit store {}: schema {} has no audit_anchor table yet, and this role "
                           "may not add it: prune once as the schema's owner",
                           what, where.schema);
    }
    return false;
  }
  std::vector<std::string> instances{request.instance};
  if (request.instance.empty()) {
    PgResult names = pg_exec(conn.get(), "SELECT name FROM audit_instance ORDER BY name", {}, what,
                             error);
    if (!names) return false;
    instances.clear();
    for (int i = 0; i < PQntuples(names.get()); ++i) {
      instances.push_back(pg_text(names.get(), i, 0));
    }
  }
  for (const std::string& instance : instances) {
    PgTarget target(conn.get(), instance, what);
    std::string note;
    if (!prune_chain(target, instance, request, &result->anchors, &note, error)) return false;
    if (!note.empty()) result->notes.push_back(fmt::format("instance {}: {}", instance, note));
  }
  result->notes.push_back(fmt::format(
      "audit store {}: the space of the deleted rows is reused once autovacuum has been through "
      "audit_statement and audit_outcome", what));
  return true;
}

}  // namespace pgw::store
