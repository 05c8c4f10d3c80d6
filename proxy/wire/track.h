// Response tracking: which client request each server message answers. The session queues an
// Expect for every request it forwards (or injects in place of a refused one); the tracker walks
// the server's replies through that queue so the session knows, per message, whether to relay it,
// drop it (answers to pgwarden's own injected requests) or replace it (the error the client gets
// for a refused statement), and when each audited statement finished and how.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/wire/wire.h"

namespace pgw {

struct CopyPlan;  // proxy/masking/masking.h
struct Prepared;  // proxy/judge/judge.h
struct Portal;    // proxy/judge/prepared.h

// One request forwarded upstream whose replies are still to come.
struct Expect {
  char request = 0;  // 'Q' 'P' 'B' 'D' 'E' 'C' 'S' 'F'
  // pgwarden sent this in place of a refused request: its replies are dropped, and its error is
  // replaced by `error` (a whole ErrorResponse message).
  bool injected = false;
  std::string error;
  // Audit records of the statements this request runs (a Query: one per statement, in order;
  // an Execute: one). Empty when nothing is audited.
  std::vector<int64_t> seqs;
  size_t next = 0;  // index into seqs of the statement now running
  int64_t started_us = 0;
  // pgwarden's own request (the masking code's catalog query, or a Describe the client did not
  // send): its replies are for pgwarden and never reach the client, except the error of such a
  // Describe, which stands for the error the client's own Execute would have got.
  bool internal = false;
  // The prepared statement a Parse makes, a Bind binds or a Describe ('S') names, and the portal a
  // Bind makes, a Describe ('P') names or an Execute runs: an error raised for one of them is the
  // error of the Executes after it, up to Sync, that run what it failed to make.
  std::string statement;
  std::optional<std::string> portal;
  // What a Parse prepares and what a Bind binds (nullptr: pgwarden's own stand-in, unknown to it),
  // for pgwarden's mirror of them (proxy/judge/prepared.h).
  std::shared_ptr<const Prepared> prepares;
  std::shared_ptr<const Portal> binds;
  // How the COPY TO STDOUT statements this request runs are masked (in order; next_copy is the
  // one to start next). Set only in masked sessions.
  std::vector<std::shared_ptr<const CopyPlan>> copies;
  size_t next_copy = 0;
  // A statement of this request reads a masked column: result columns computed from anything
  // (no source column: expressions, aggregates, UNION) are masked too.
  bool masks_computed = false;
  // pgwarden's query for the name of the function a FunctionCall calls (its OID), if non-zero.
  uint32_t function_lookup = 0;
  // How many CopyDone and CopyFail messages the client had sent when this request went upstream,
  // and whether the server answered it with CopyInResponse: a Sync the client sends between a
  // COPY FROM STDIN and the end of its data is read as part of the COPY and ignored by the server.
  uint64_t copy_ends_before = 0;
  bool copy_in = false;
};

// The outcome of a statement the server skipped: an earlier request of the same pipeline failed,
// and the server discards everything up to Sync.
inline constexpr const char* kSkippedToSync = "not executed: an earlier request of the same pipeline failed";

// How one statement ended, for its audit outcome.
struct Finished {
  int64_t seq = 0;
  std::optional<int64_t> rows;
  std::string sqlstate;
  std::string error;
  int64_t duration_us = 0;
  int64_t masked_values = 0;  // values masked in the statement's results
};

enum class Verdict { relay, drop, replace };

// Why the server skips to Sync: the error, and the prepared statements and portals that the
// failed Parse, Bind or Describe (and Binds of what it failed to make) did not make. An Execute of
// one of them fails with that error; any other request is just skipped.
struct SkipCause {
  std::string sqlstate;
  std::string message;
  std::vector<std::string> statements;
  std::vector<std::string> portals;
};

struct Tracker {
  std::deque<Expect> pending;
  // The server discards every message up to the next Sync: an extended-protocol request failed (or
  // pgwarden sent one that will) and no Sync has been sent since. What is sent meanwhile gets no
  // reply, so the session sends nothing but Sync and records what it skipped.
  bool skipping = false;
  // pgwarden's own requests the server skipped, for the session to settle: their answers (a
  // function's name, the masking catalog) will not come.
  std::vector<Expect> skipped_internal;
  // How many times the server started skipping: the session's expected view of prepared
  // statements and portals is rebuilt each time (proxy/prepared.h).
  uint64_t skips = 0;

  SkipCause cause;

  // CopyDone and CopyFail messages the client sent so far, and the Syncs the server ignored
  // because it read them during a COPY FROM STDIN (they get no ReadyForQuery; the session takes
  // them off its count of outstanding requests and resets this).
  uint64_t copy_ends = 0;
  int ignored_syncs = 0;

  // Queues a request sent upstream; a Sync ends the skipping.
  void expect(Expect e);
  // The client sent CopyDone or CopyFail.
  void client_copy_end() { ++copy_ends; }
  // Settles a request the server skips, without a reply: an Execute's statement gets the error
  // when it runs what failed, otherwise "not executed" (appended to `done`).
  void skip(Expect& e, int64_t now_us, std::vector<Finished>* done);
  // pgwarden sent a stand-in that fails (a refusal): the server skips what follows, up to Sync.
  void skip_after_refusal();
  // The connection is going away: every statement still waiting for its replies finishes with
  // `sqlstate` and `why`, and nothing is pending any more.
  void abandon(std::string_view sqlstate, std::string_view why, int64_t now_us, std::vector<Finished>* done);
  // Decides on one server message; `replacement` is set with Verdict::replace. Statements that
  // finished with this message are appended to `done`.
  Verdict on_server(const Message& m, int64_t now_us, std::string* replacement, std::vector<Finished>* done);
  // The same for a reply to an internal request.
  Verdict on_internal(const Message& m, int64_t now_us, std::vector<Finished>* done);
  // The request whose replies are arriving now, if any.
  const Expect* current() const { return pending.empty() ? nullptr : &pending.front(); }
  Expect* current() { return pending.empty() ? nullptr : &pending.front(); }
};

// Microseconds on a monotonic clock, for statement durations.
int64_t monotonic_us();

// Rows reported by a CommandComplete tag ("INSERT 0 5" -> 5, "SELECT 3" -> 3); nullopt if none.
std::optional<int64_t> rows_from_tag(std::string_view tag);

}  // namespace pgw
