// The PostgreSQL backend of the audit store (SPEC section 11): a writer thread commits each group
// of records in one pipelined transaction on a connection of its own, under the instance's lock.
#pragma once

#include <memory>
#include <string>

#include "store/audit.h"

namespace pgw::store {

// Opens the store Options::dsn names (backend postgresql): connects, creates the schema on first
// start or checks it, takes the lock of Options::instance (refused if another live pgwarden holds
// that name) and continues the instance's chains. Null and `error` set if any of that fails.
std::unique_ptr<AuditStore> open_pg_store(const Options& options, std::string* error);

}  // namespace pgw::store
