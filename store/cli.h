// `pgwarden audit export` (and its --follow), `pgwarden audit verify` and `pgwarden approvals
// list` (SPEC section 3).
#pragma once

#include <string>

#include "store/audit.h"

namespace pgw::store {

// The store a configuration names (`-c pgwarden.yaml` in place of --store), as the caller that
// loaded the configuration resolved it.
struct ConfiguredStore {
  StoreLocation location;
  std::string key_file;  // audit.hmac_key_file: verify's key unless --key-file is given
};

// Runs the `audit` command; argv[0] is "audit", argv[1] the subcommand. `configured` is the store
// of `-c`, if given (the arguments then hold no --store). Returns the exit code: 0 success, 1 the
// chain is broken, 2 bad usage or unreadable input (with a message on stderr naming the argument
// or file at fault).
int audit_command(int argc, char** argv, const ConfiguredStore* configured = nullptr);

// Runs the `approvals` command (argv[0] "approvals", argv[1] "list"): prints the approval
// requests of the store as CSV with SHOW APPROVALS's columns. 0, or 2 on bad usage or input.
int approvals_command(int argc, char** argv, const ConfiguredStore* configured = nullptr);

}  // namespace pgw::store
