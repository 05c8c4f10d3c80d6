// Reading approval requests from a PostgreSQL store on a connection its caller keeps (the
// exchange of shared approvals), as list_approvals() reads them.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store/audit.h"

namespace pgw::store {

// Appends the requests (every one for `id` 0, else the one numbered `id`) as of `now_us` to `out`,
// read on `conn`, whose search_path points at the store's schema, inside a transaction the caller
// opened; `what` names the store in errors. false and `error` set if they cannot be read.
bool read_pg_approvals(PGconn* conn, const std::string& what, int64_t id, bool pending_only,
                       int64_t now_us, std::vector<ApprovalRow>* out, std::string* error);

}  // namespace pgw::store
