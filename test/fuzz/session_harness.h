// A whole session driven in this process, for the session fuzz target and the unit tests that
// replay its inputs. One libuv loop runs a real Worker (the rules of session_harness.cc, an audit
// store in a temporary SQLite file), a client and a fake PostgreSQL server, over loopback sockets.
// The client logs in with SCRAM as the principal `acme/shop@refs/heads/main` (on the admin console
// as `dba:alice`), sends the input once the session is ready, and the loop runs until nothing
// moves any more; then the client leaves and the loop runs until the session is freed. The fake
// server answers like PostgreSQL from what it is sent: each statement by its kind (rows for
// SELECT, COPY in both directions, tags), errors for statements naming `fail` (FATAL for
// `fatal`), a NOTICE for `notice`, the extended protocol's skip to Sync after an error, and the
// catalog queries pgwarden itself sends for masking and function names.
#pragma once

#include <string>
#include <string_view>

namespace pgw::fuzz {

// Runs one session that sends `input` after login (`console`: on the admin console). Returns what
// went wrong ("" when nothing did): a login that failed, a session that did not end.
std::string run_session(bool console, std::string_view input);

}  // namespace pgw::fuzz
