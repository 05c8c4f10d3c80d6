// `pgwarden learn` and `pgwarden coverage` (SPEC section 13): the command line and the reading of
// the audit store (SQLite or PostgreSQL, through store::read_audit); rules/ does the learning and
// the counting on the statements read.
#pragma once

namespace pgw {

// argv[1] is "learn": writes the proposed rules file to stdout. 0, or 2 on bad usage or a store
// or configuration that cannot be read (with a message naming the argument or file at fault).
int learn_command(int argc, char** argv);

// argv[1] is "coverage": prints how often each rule of the configured rules file decided, as a
// table or CSV. 0, or 2 on bad usage or an input that cannot be read.
int coverage_command(int argc, char** argv);

}  // namespace pgw
