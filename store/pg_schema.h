// The layout of a PostgreSQL audit store (SPEC section 11), shared by several pgwarden instances:
// the tables of the SQLite store with an `instance` column leading each key, so that each instance
// keeps its own chains (contiguous seq per instance); `audit_instance` holds each instance's chain
// heads, and `approval`/`approval_vote` let any instance list and decide another's held
// statements. Everything lives in one schema, created on first start and versioned in audit_meta.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string>

#include "store/pg_util.h"

namespace pgw::store {

// Where a PostgreSQL store is and how to name it in messages.
struct PgLocation {
  std::string dsn;
  std::string schema = kDefaultPgSchema;
  // The store as messages name it: the DSN without its password, and the schema.
  std::string describe() const;
};

// Creates the schema on an empty database (or schema), or checks that an existing one is an audit
// store of this format written with the same kind of chain (`chain`, `key_check` as in schema.h).
bool create_pg_schema(PGconn* conn, const PgLocation& where, const std::string& chain,
                      const std::string& key_check, std::string* error);
// Whether the store has audit_anchor (a store written before prunes has none until a pgwarden or
// a prune opens it for writing); false on error, with `error` set.
bool has_pg_anchors(PGconn* conn, const PgLocation& where, std::string* error);
// Checks that the schema exists and is an audit store of this format, for readers.
bool check_pg_schema(PGconn* conn, const PgLocation& where, std::string* error);

// Takes the session-level lock that says `instance` is live on this connection: false with
// `error` naming the instance if another live connection holds it.
bool lock_instance(PGconn* conn, const PgLocation& where, const std::string& instance,
                   std::string* error);
// Ends the store session `pid` if it holds `instance`'s lock: a connection of this process that
// pgwarden gave up on (the store did not answer in time) but the store still serves. Waits up to
// kPgStoreTimeout for it to end. false with `error` set if that cannot be done.
bool end_abandoned_session(PGconn* conn, const PgLocation& where, const std::string& instance,
                           int pid, std::string* error);
// Says on this connection that `instance` is live, for as long as the connection lasts (a shared
// lock, which the instance's connections each may hold).
bool announce_live(PGconn* conn, const PgLocation& where, const std::string& instance,
                   std::string* error);
// Whether a connection of `instance` says it is live. Null on error.
std::optional<bool> instance_live(PGconn* conn, const PgLocation& where,
                                  const std::string& instance, std::string* error);

// The channel on which instances hear of votes on their held statements: NOTIFY payload
// "<instance>" names whose held statement got a vote.
std::string approvals_channel(const PgLocation& where);

}  // namespace pgw::store
