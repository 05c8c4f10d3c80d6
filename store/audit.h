// The audit store (SPEC section 9): an append-only SQLite database in which every statement that
// reaches pgwarden gets a record, hash-chained so that `audit verify` finds any row changed,
// removed, inserted or reordered. Appends are group-committed, either by the thread that calls
// flush() (the proxy's event loops, once per loop iteration) or by a writer thread; the caller
// learns through a callback when its record is durable, so the proxy can forward a statement only
// after that without blocking its event loop for long. Old records go only by `audit prune`,
// which leaves an anchor that keeps the chains verifiable (SPEC section 13). The store knows
// nothing of the wire protocol.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace pgw::store {

// `audit.durability` of the config: commit before forwarding, or commit and fsync.
enum class Durability { commit, fsync };

// `audit.backend`: a SQLite file beside the proxy, or a schema of a PostgreSQL database shared by
// several instances (SPEC section 11).
enum class Backend { sqlite, postgresql };

struct Options {
  Backend backend = Backend::sqlite;
  std::string path = {};  // the SQLite file
  // The PostgreSQL store: a libpq connection string (URI or key=value) and the schema.
  std::string dsn = {};
  std::string schema = "pgwarden";
  Durability durability = Durability::commit;
  // Raw key bytes; empty for a bare SHA-256 chain, else the chain is HMAC-SHA-256 with this key.
  std::string hmac_key = {};
  // Who commits (SQLite only: a PostgreSQL store is always committed by a writer thread, since a
  // commit waits for the network). true: whoever calls flush(), on its own thread. A commit without fsync costs tens
  // of microseconds, less than waking a writer thread and being woken back, so an event loop
  // commits what it queued at the end of each iteration. false: a writer thread commits, for
  // callers that must not wait for a commit (an fsync takes milliseconds): what a flush() hands
  // over as one group, or records that have waited a millisecond for one.
  bool commit_on_flush = false;
  // `audit.instance`: the name of the pgwarden instance that writes, recorded with each session
  // and exported in the `instance` column.
  std::string instance = {};
};

// What every record of one session shares: who runs its statements, from where, as whom
// upstream. Field names follow the CSV columns. The store writes it once, with the session's
// first record, and each record names it, so a statement's row carries only what is its own.
struct SessionRecord {
  std::string principal;
  std::string attribution;  // verified | claimed | none
  std::string job_id;
  std::string commit;
  std::string session_id;
  std::string client_addr;
  std::string database;
  std::string upstream_role;
  std::string application_name;
};
using SessionRef = std::shared_ptr<const SessionRecord>;

// What is known of a statement when it arrives, before it runs. Field names follow the CSV columns.
struct AuditRecord {
  int64_t ts_us = 0;  // microseconds since the Unix epoch, UTC
  SessionRef session;  // never null
  std::string protocol;  // simple | extended
  std::string command;
  std::string classes;         // ';'-joined
  std::string tables_read;     // ';'-joined
  std::string tables_written;  // ';'-joined
  std::string fingerprint;
  std::string statement;
  std::string parameters;  // JSON array of strings, or empty
  std::string decision;    // allow, deny, log, would_deny, would_hold, hold (awaiting approval)
  std::string rule;
  std::string approver;  // ';'-joined
  // For a statement held for approval (decision "hold"): when the request expires, else 0; who
  // may approve it (';'-joined globs) and how many must. A PostgreSQL store keeps the last two so
  // that another instance can take an approver's word on it.
  int64_t expires_us = 0;
  std::string hold_approvers;
  int approvals_required = 1;
};

// What is known once the statement finished (or its approval was settled): stored under the seq
// of the record it completes, at most one per record (a second is ignored). Export joins the two
// into one row.
struct Outcome {
  int64_t seq = 0;  // of the AuditRecord this completes
  std::optional<int64_t> rows;
  std::string sqlstate;
  std::string error;
  double duration_ms = 0;
  int64_t masked_values = 0;
  // Set when approval changed the decision: approved, rejected, expired, withdrawn.
  std::string decision;
  std::string approver;  // ';'-joined
};

// How long an outcome may wait in the queue for a record to be committed with. Nobody waits for
// an outcome, so an outcome alone is not worth a commit of its own (at one busy client that would
// double the commits); a record, or this delay, takes it along.
inline constexpr std::chrono::milliseconds kOutcomeDelay{5};

// Result of an append: the record's sequence number once committed, or why it could not be.
struct AppendResult {
  int64_t seq = 0;
  std::string error;  // non-empty: not recorded; the statement must not run
  // Of a record held for approval (decision "hold"): the id approvers name it by. The record's seq
  // in a SQLite store; a number unique across instances in a PostgreSQL store.
  int64_t approval_id = 0;
  bool ok() const { return error.empty(); }
};

// The writable store. Thread-safe: append() may be called from any thread; callbacks run on the
// store's writer thread and must return quickly (post to the caller's loop).
class AuditStore {
 public:
  // Opens (creating if needed) the store and continues its hash chain. nullptr and `error` set
  // if the file cannot be opened or its schema is not pgwarden's.
  static std::unique_ptr<AuditStore> open(const Options& options, std::string* error);
  virtual ~AuditStore() = default;

  // A lane is a queue of appends that one committer, an event loop, commits with flush(lane):
  // the callbacks of its records then run on that committer's thread, none on another's. Lane 0
  // always exists and may be flushed by any thread. Returns the new lane's number.
  virtual int add_lane() = 0;
  // Queues a record in `lane`; `done` runs once it is committed (and synced with
  // Durability::fsync) in a group commit, or failed. A failure does not stop later appends from
  // being tried.
  virtual void append(AuditRecord record, std::function<void(AppendResult)> done,
                      int lane = 0) = 0;
  // Queues an outcome in `lane`; nobody waits for it: it is committed with the lane's next
  // record, or once it has waited kOutcomeDelay.
  virtual void append_outcome(Outcome outcome, int lane = 0) = 0;
  // With commit_on_flush: commits, on the calling thread, what `lane` queued and runs the
  // callbacks; outcomes alone only if `outcomes_due` (else they wait for a record or the next
  // flush that says so). Waits while another thread commits. Returns true if records are queued
  // in the lane again (appended by the callbacks, or by other threads meanwhile): the caller
  // should flush again soon. Without commit_on_flush: hands what the lane queued to the writer
  // thread, to commit as one group with the other lanes', and returns false.
  virtual bool flush(bool outcomes_due = true, int lane = 0) = 0;
  // Whether outcomes wait in `lane` for a commit (a caller of flush() that left them should
  // flush them within kOutcomeDelay).
  virtual bool outcomes_waiting(int lane = 0) = 0;
  // Commits everything queued and stops the writer thread.
  virtual void close() = 0;
  // How many commits have failed since the store was opened (monitoring: SPEC section 12).
  virtual uint64_t failed_commits() = 0;
  // Whether the store can be written (readiness: SPEC section 12): true unless its latest commit
  // failed. A store whose latest commit failed is tried again here with an empty transaction, on
  // the calling thread, so that it is seen to recover even while nothing is appended.
  virtual bool writable() = 0;
};

// Filters of `audit export` (SPEC section 3). Empty fields do not filter.
struct ExportFilter {
  std::optional<int64_t> since_us;
  std::optional<int64_t> until_us;
  std::string principal_glob;
  std::string job_id;
  std::string decision;
};

enum class ExportFormat { csv, jsonl };

// Where the readers find a store, as `--store` names it (SPEC section 3): a SQLite file, or a
// PostgreSQL database (a libpq connection string, URI or key=value) and the schema the store
// lives in.
struct StoreLocation {
  Backend backend = Backend::sqlite;
  std::string path = {};  // the SQLite file
  std::string dsn = {};
  std::string schema = "pgwarden";

  // A `--store` argument: a postgresql:// or postgres:// URI names a PostgreSQL store (in the
  // default schema), anything else a SQLite file.
  static StoreLocation parse(const std::string& store);
  // The store as messages name it: the file, or the DSN without its password and the schema.
  std::string describe() const;
};

// Streams the joined rows (record + its session + outcome) in constant memory: in seq order, or
// for a PostgreSQL store every instance's merged in (ts, instance, seq) order. Returns false and
// sets `error` if the store cannot be read.
bool export_audit(const StoreLocation& store, const ExportFilter& filter, ExportFormat format,
                  std::ostream& out, std::string* error);

// SPEC section 9's columns of an exported row, by position (`cells[export_column::principal]`).
namespace export_column {
enum : size_t {
  seq, ts, principal, attribution, job_id, commit, session_id, client_addr, database,
  upstream_role, application_name, protocol, command, classes, tables_read, tables_written,
  fingerprint, statement, parameters, decision, rule, approver, rows, sqlstate, error,
  duration_ms, masked_values, hash, instance,
};
}  // namespace export_column
inline constexpr size_t kExportColumns = export_column::instance + 1;
// One exported row's cells, as the CSV writes them.
using ExportCells = std::array<std::string, kExportColumns>;

// Reads the rows export_audit writes, in its order and in constant memory, handing each to `row`
// as its cells: for the commands that read the audit back (`learn`, `coverage`). Returns false
// and sets `error` if the store cannot be read.
bool read_audit(const StoreLocation& store, const ExportFilter& filter,
                const std::function<void(const ExportCells&)>& row, std::string* error);

// `audit export --follow` (SPEC section 12): where a follower starts, per instance, as the seq
// of the last record already read ("" for a SQLite store's one chain, or for the one instance of
// a PostgreSQL store that has exactly one).
using FollowPositions = std::map<std::string, int64_t>;

// Parses `--after-seq`: a seq (`120`), or `instance:seq` pairs joined by commas
// (`gw-a:120,gw-b:77`; an instance name may hold colons, the seq follows the last). nullopt and
// `error` set if it is neither.
std::optional<FollowPositions> parse_after_seq(const std::string& text, std::string* error);

// How long a followed record waits for its outcome: a record is written once its outcome is
// committed, or once it is this old (a statement still running, or held for approval, is then
// written without its outcome, which only `audit export` shows later).
inline constexpr std::chrono::seconds kFollowSettle{10};

// Streams a store's records as they are committed: each record once, in seq order per instance,
// none skipped (a record waits for every earlier one of its instance). Filters apply as in export,
// except `until_us`, which a follow has no use for. The store is opened at the first poll; a
// SQLite file that does not exist yet is waited for.
class FollowSource;
class AuditFollower {
 public:
  enum class Poll {
    caught_up,  // every settled record is written: poll again later
    more,       // a batch limit was reached: poll again now
    retry,      // the store cannot be read for now (`error` says why): it is reopened next poll
    failed,     // the store is not one to follow, or the positions do not fit it (`error`)
  };
  // Records read a batch of at most this many per instance per poll.
  static constexpr int64_t kBatch = 5000;

  AuditFollower(StoreLocation store, ExportFilter filter, ExportFormat format,
                FollowPositions after);
  ~AuditFollower();
  AuditFollower(const AuditFollower&) = delete;
  AuditFollower& operator=(const AuditFollower&) = delete;

  // Writes to `out` (the CSV header first, at the first poll) the records settled at `now_us`
  // that follow the positions, and moves the positions past them.
  Poll poll(int64_t now_us, std::ostream& out, std::string* error);
  // The seq of the last record read of each instance (written or filtered out).
  const FollowPositions& positions() const { return positions_; }

 private:
  bool open(std::string* error);
  bool resolve_positions(const std::vector<std::pair<std::string, int64_t>>& heads,
                         std::string* error);
  bool read_snapshot(int64_t now_us, std::ostream& out, bool* more, std::string* error);
  bool follow_instance(const std::string& name, int64_t head, int64_t now_us, std::ostream& out,
                       bool* more, std::string* error);

  StoreLocation store_;
  ExportFilter filter_;
  ExportFormat format_;
  FollowPositions positions_;
  std::unique_ptr<FollowSource> source_;
  bool started_ = false;   // the header is written
  bool resolved_ = false;  // the positions are checked against the store
};

// An anchor (SPEC section 13): what a prune cut from the front of one chain (a SQLite store's, or
// one instance's of a PostgreSQL store) and the hashes the cut ended on, so that the chain is
// verified from its first kept record. A prune cuts records first_seq..last_seq together with
// exactly their outcomes, which were the first of the outcome chain. Each anchor is hashed like a
// row, with the chain's key, after the hash of the chain's anchor before it.
struct Anchor {
  std::string instance = {};  // of a PostgreSQL store; empty in a SQLite store
  int64_t number = 0;         // 1 for a chain's first prune, then 2, 3, ...
  int64_t first_seq = 0;      // the records pruned
  int64_t last_seq = 0;
  int64_t before_us = 0;  // the prune's bound: every record pruned is older
  int64_t pruned_us = 0;  // when the prune ran
  int64_t records = 0;
  int64_t outcomes = 0;
  std::string record_hash;   // of record last_seq: the kept records chain on from it
  int64_t outcome_seq = 0;   // the record whose outcome was the last pruned of the outcome chain
  std::string outcome_hash;  // of that outcome: the kept outcomes chain on from it
  std::string hash;
};
// "anchor 2: records 1001-2000 (1000 records, 1000 outcomes) pruned before <T> at <T>".
std::string describe_anchor(const Anchor& anchor);

// What `audit prune` cuts (SPEC section 13).
struct PruneRequest {
  int64_t before_us = 0;  // records older than this go
  int64_t now_us = 0;     // when the prune runs, recorded in the anchor
  std::string hmac_key = {};  // the chain's key (empty for a bare SHA-256 chain)
  // Of a PostgreSQL store: the instance whose chains are cut; empty for every instance.
  std::string instance = {};
  // The most records one anchor covers: a prune reads the outcome links of that many records at
  // once, so a first prune of a large store writes several anchors in a row.
  int64_t anchor_span = 1'000'000;
};
struct PruneResult {
  std::vector<Anchor> anchors;     // written, one per chain cut
  std::vector<std::string> notes;  // why a chain was cut short or not at all; how the file shrank
  bool chain_broken = false;  // refused: verify finds the chain broken (the error says where)
};
// Removes from the front of each chain the records older than `before_us`, with their outcomes,
// and anchors the cut. Never removes a record without an outcome (a statement still running, or
// held for approval) nor any record after it, nor a chain's last record. Deletes in short
// transactions, so that pgwarden goes on writing meanwhile; a SQLite file created with incremental
// auto-vacuum then gives the freed pages back. A prune that was interrupted is finished by the
// next. false and `error` set if the store cannot be pruned (or the key is not its key).
bool prune_audit(const StoreLocation& store, const PruneRequest& request, PruneResult* result,
                 std::string* error);

// Result of walking the chains.
struct VerifyResult {
  bool ok = true;
  int64_t rows_checked = 0;  // records and outcomes, of every instance
  // When not ok: the first row at fault and what is wrong with it.
  int64_t bad_seq = 0;
  std::string reason;
  // The instance whose chain is at fault, in a PostgreSQL store (a SQLite store has one chain).
  std::string instance = {};
  // The newest anchor of each chain verified that was pruned: its records are verified from the
  // anchor's last_seq + 1.
  std::vector<Anchor> anchors = {};
};
// Walks the chains of records and outcomes (in a PostgreSQL store, those of every instance that
// has a head or rows), recomputing every hash with `hmac_key` (empty for bare SHA-256). `error`
// set if the store cannot be read or the key is not the kind the store was written with.
VerifyResult verify_audit(const StoreLocation& store, const std::string& hmac_key,
                          std::string* error);

// An approval request as the store knows it: a record held for approval and its settlement.
struct ApprovalRow {
  int64_t id = 0;     // the approval id: the seq of the held record in a SQLite store
  std::string state;  // pending, approved, rejected, expired, withdrawn
  std::string principal;
  std::string job_id;
  std::string rule;
  std::string statement;
  int64_t requested_us = 0;
  int64_t expires_us = 0;
  std::string approvers;  // ';'-joined: who settled it, or who approved it so far
  std::string instance;   // of the instance that holds the statement
  int64_t seq = 0;        // of the held record in that instance's chain
  // The rule's approver globs, ';'-joined, and how many distinct approvals it needs: kept by a
  // PostgreSQL store, so that another instance can take an approver's word (a SQLite store keeps
  // neither: empty, 1).
  std::string approver_globs;
  int required = 1;
};

// Reads the approval requests in id order. A request with no settlement is `withdrawn` if its
// instance withdrew it, else `pending`, or `expired` once `now_us` is past its deadline (the proxy
// that held it is gone or has not yet recorded the expiry). `pending_only` keeps the pending
// ones. false and `error` if the store cannot be read.
bool list_approvals(const StoreLocation& store, bool pending_only, int64_t now_us,
                    std::vector<ApprovalRow>* out, std::string* error);

// Formats a timestamp as RFC 3339 UTC with microseconds; parses the same (and plain dates).
std::string format_ts(int64_t ts_us);
std::optional<int64_t> parse_ts(const std::string& text);
// A time argument of the command line (`--since`, `--until`) read by parse_ts; nullopt and `error`
// naming the argument and the forms it takes when it is neither.
std::optional<int64_t> parse_time_argument(std::string_view name, const std::string& text,
                                           std::string* error);

}  // namespace pgw::store
