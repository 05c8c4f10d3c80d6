// `pgwarden audit export`, `pgwarden audit verify` and `pgwarden approvals list` (SPEC section 3).
#pragma once

namespace pgw::store {

// Runs the `audit` command; argv[0] is "audit", argv[1] the subcommand. Returns the exit code:
// 0 success, 1 the chain is broken, 2 bad usage or unreadable input (with a message on stderr
// naming the argument or file at fault).
int audit_command(int argc, char** argv);

// Runs the `approvals` command (argv[0] "approvals", argv[1] "list"): prints the approval
// requests of the store as CSV with SHOW APPROVALS's columns. 0, or 2 on bad usage or input.
int approvals_command(int argc, char** argv);

}  // namespace pgw::store
