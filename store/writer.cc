// The SQLite backend's BatchWriter: writes each batch in one transaction on the store's file.
#include <fmt/format.h>

#include <algorithm>
#include <span>
#include <variant>

#include "store/audit.h"
#include "store/chain.h"
#include "store/checkpoint.h"
#include "store/group_commit.h"
#include "store/pg_writer.h"
#include "store/row.h"
#include "store/schema.h"
#include "store/wal_writes.h"

namespace pgw::store {
namespace {

// The prepared statements of the writer's connection, reused for every batch.
struct Statements {
  Stmt begin, commit, rollback, insert_session, insert_record, insert_outcome, set_head,
      record_hash, outcome_hash;
};

// What a record without a session (which callers never append) is written with.
const SessionRecord kNoSession;

class SqliteBatchWriter final : public BatchWriter {
 public:
  SqliteBatchWriter(const Options& options, Db db, Statements stmts)
      : path_(options.path), instance_(options.instance), db_(std::move(db)),
        stmts_(std::move(stmts)), hasher_(options.hmac_key) {}

  bool load_head(std::string* error);
  bool start(std::string* error) {
    checkpointer_ = start_checkpointer(db_.get(), path_, error);
    return checkpointer_ != nullptr;
  }
  bool write_batch(std::span<Pending> batch, std::string* error) override;
  void close() override { checkpointer_.reset(); }

 private:
  bool write_all(std::span<Pending> batch, std::string* error);
  bool write_record(PendingRecord& item, std::string* error);
  bool write_outcome(const Outcome& outcome, std::string* error);
  bool session_row(const SessionRef& session, int64_t* row, std::string* error);
  bool chain_hash(const std::string& prev, std::string* hash, std::string* error);
  bool insert_row(sqlite3_stmt* insert, int bound, std::string_view what, std::string* error);
  bool read_hash(sqlite3_stmt* select, int64_t seq, std::string* hash, std::string* error);
  bool step_done(sqlite3_stmt* stmt, std::string_view what, std::string* error);

  const std::string path_;
  const std::string instance_;
  Db db_;
  Statements stmts_;
  CheckpointerPtr checkpointer_;
  ChainHasher hasher_;
  std::string canonical_;  // reused buffer for a row's canonical bytes
  ChainEnds committed_;  // where the chains end as committed
  ChainEnds batch_;      // and while a batch is written
  SessionRows sessions_;
};

bool SqliteBatchWriter::write_batch(std::span<Pending> batch, std::string* error) {
  bool ok = write_all(batch, error);
  if (!ok) {
    if (!sqlite3_get_autocommit(db_.get())) sqlite3_step(stmts_.rollback.get());
    sqlite3_reset(stmts_.rollback.get());
    sessions_.rolled_back();
    std::string ignored;
    load_head(&ignored);  // the chains continue from what is really committed
  } else {
    sessions_.committed();
  }
  return ok;
}

bool SqliteBatchWriter::write_all(std::span<Pending> batch, std::string* error) {
  if (!step_done(stmts_.begin.get(), "cannot begin a transaction", error)) return false;
  batch_ = committed_;
  for (Pending& item : batch) {
    bool ok = std::holds_alternative<PendingRecord>(item)
                  ? write_record(std::get<PendingRecord>(item), error)
                  : write_outcome(std::get<PendingOutcome>(item).outcome, error);
    if (!ok) return false;
  }
  sqlite3_bind_int64(stmts_.set_head.get(), 1, batch_.record_seq);
  sqlite3_bind_int64(stmts_.set_head.get(), 2, batch_.outcome_seq);
  if (!step_done(stmts_.set_head.get(), "cannot record the chain head", error)) return false;
  if (!step_done(stmts_.commit.get(), "cannot commit", error)) return false;
  std::swap(committed_, batch_);
  return true;
}

// Inserts the record as the next of the chain, and its session's row if it has none yet.
bool SqliteBatchWriter::write_record(PendingRecord& item, std::string* error) {
  const AuditRecord& record = item.record;
  int64_t session = 0;
  if (!session_row(record.session, &session, error)) return false;
  item.seq = ++batch_.record_seq;
  if (record.decision == "hold") item.approval_id = item.seq;
  canonical_.clear();
  encode_record(item.seq, instance_, record.session ? *record.session : kNoSession, record,
                &canonical_);
  if (!chain_hash(batch_.record_hash, &batch_.record_hash, error)) return false;
  sqlite3_stmt* insert = stmts_.insert_record.get();
  return insert_row(insert, bind_record(insert, item.seq, session, record, batch_.record_hash),
                    fmt::format("record {}", item.seq), error);
}

// Inserts the outcome as the next of the outcome chain; one for a record that has one already is
// left out (and out of the chain).
bool SqliteBatchWriter::write_outcome(const Outcome& outcome, std::string* error) {
  canonical_.clear();
  encode_outcome(batch_.outcome_seq, outcome, &canonical_);
  std::string hash;
  if (!chain_hash(batch_.outcome_hash, &hash, error)) return false;
  sqlite3_stmt* insert = stmts_.insert_outcome.get();
  if (!insert_row(insert, bind_outcome(insert, batch_.outcome_seq, outcome, hash),
                  fmt::format("the outcome of record {}", outcome.seq), error)) {
    return false;
  }
  if (sqlite3_changes(db_.get()) == 1) {
    batch_.outcome_seq = outcome.seq;
    batch_.outcome_hash = std::move(hash);
  }
  return true;
}

// The id of the session's row, inserting it first if it has none.
bool SqliteBatchWriter::session_row(const SessionRef& session, int64_t* row, std::string* error) {
  if (std::optional<int64_t> written = sessions_.find(session.get())) {
    *row = *written;
    return true;
  }
  sqlite3_stmt* insert = stmts_.insert_session.get();
  if (!insert_row(insert, bind_session(insert, session ? *session : kNoSession, instance_),
                  "a session", error)) {
    return false;
  }
  *row = sqlite3_last_insert_rowid(db_.get());
  sessions_.add(session, *row);
  return true;
}

// The chain hash of canonical_ after `prev`, into `*hash` (which may be `prev`).
bool SqliteBatchWriter::chain_hash(const std::string& prev, std::string* hash, std::string* error) {
  std::string next = hasher_.next(prev, canonical_);
  if (next.empty()) {
    *error = fmt::format("audit store {}: cannot compute the chain hash (OpenSSL)", path_);
    return false;
  }
  *hash = std::move(next);
  return true;
}

// Runs an INSERT whose values were bound with result `bound`, then clears its bindings: they
// point into the batch. `what` names the row in an error.
bool SqliteBatchWriter::insert_row(sqlite3_stmt* insert, int bound, std::string_view what,
                                  std::string* error) {
  bool ok = bound == SQLITE_OK;
  if (!ok) *error = db_error(db_.get(), path_, fmt::format("cannot bind {}", what));
  ok = ok && step_done(insert, fmt::format("cannot insert {}", what), error);
  sqlite3_clear_bindings(insert);
  return ok;
}

bool SqliteBatchWriter::step_done(sqlite3_stmt* stmt, std::string_view what, std::string* error) {
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE) *error = db_error(db_.get(), path_, what);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE;
}

// Reads where both chains end, as committed.
bool SqliteBatchWriter::load_head(std::string* error) {
  ChainHead head;
  if (!read_head(db_.get(), path_, &head, error)) return false;
  committed_.record_seq = head.record_seq;
  committed_.outcome_seq = head.outcome_seq;
  return read_hash(stmts_.record_hash.get(), committed_.record_seq, &committed_.record_hash,
                   error) &&
         read_hash(stmts_.outcome_hash.get(), committed_.outcome_seq, &committed_.outcome_hash,
                   error);
}

// The hash of row `seq` selected by `select`; the genesis hash for seq 0.
bool SqliteBatchWriter::read_hash(sqlite3_stmt* select, int64_t seq, std::string* hash,
                                 std::string* error) {
  if (seq == 0) {
    *hash = kGenesisHash;
    return true;
  }
  sqlite3_bind_int64(select, 1, seq);
  int rc = sqlite3_step(select);
  if (rc == SQLITE_ROW) *hash = column_string(select, 0);
  else *error = db_error(db_.get(), path_, fmt::format("cannot read the hash of row {} at the chain's head", seq));
  sqlite3_reset(select);
  return rc == SQLITE_ROW;
}

bool prepare_statements(sqlite3* db, const std::string& path, Statements* s,
                        std::string* error) {
  std::pair<Stmt*, const char*> all[] = {
      {&s->begin, "BEGIN IMMEDIATE"},
      {&s->commit, "COMMIT"},
      {&s->rollback, "ROLLBACK"},
      {&s->insert_session, kInsertSessionSql},
      {&s->insert_record, kInsertRecordSql},
      {&s->insert_outcome, kInsertOutcomeSql},
      {&s->set_head, "UPDATE audit_head SET record_seq = ?1, outcome_seq = ?2 WHERE id = 1"},
      {&s->record_hash, "SELECT hash FROM audit_statement WHERE seq = ?1"},
      {&s->outcome_hash, "SELECT hash FROM audit_outcome WHERE seq = ?1"},
  };
  for (auto& [stmt, sql] : all) {
    *stmt = prepare(db, sql, path, error);
    if (!*stmt) return false;
  }
  return true;
}

bool set_pragmas(sqlite3* db, const Options& options, std::string* error) {
  // 4 KiB pages (no effect on an existing store, whose page size is fixed): 1 KiB pages, fewer
  // bytes per commit, measured no faster; the system calls of a commit cost, not its bytes.
  // Incremental auto-vacuum (likewise only for a new store: set before its first table), so that
  // a prune can give the pages it freed back to the file system (SPEC section 13).
  if (!exec(db, "PRAGMA page_size=4096", options.path, error) ||
      !exec(db, "PRAGMA auto_vacuum=INCREMENTAL", options.path, error)) {
    return false;
  }
  Stmt wal = prepare(db, "PRAGMA journal_mode=WAL", options.path, error);
  if (!wal) return false;
  if (sqlite3_step(wal.get()) != SQLITE_ROW || column_string(wal.get(), 0) != "wal") {
    *error = db_error(db, options.path, "cannot switch to WAL mode");
    return false;
  }
  const char* sync = options.durability == Durability::fsync ? "PRAGMA synchronous=FULL"
                                                             : "PRAGMA synchronous=NORMAL";
  // A batch fits in the page cache (64 MiB) and never spills to the WAL before its commit, so
  // that each commit's frames are written once, in order, as wal_writes.h expects.
  // A prune writes a WAL as large as what it deletes; once checkpointed, the WAL file is cut back
  // to 64 MiB when writing starts over at its beginning.
  return exec(db, sync, options.path, error) &&
         exec(db, "PRAGMA journal_size_limit=67108864", options.path, error) &&
         exec(db, "PRAGMA cache_size=-65536", options.path, error) &&
         exec(db, "PRAGMA cache_spill=OFF", options.path, error);
}

}  // namespace

std::unique_ptr<AuditStore> AuditStore::open(const Options& options, std::string* error) {
  if (options.backend == Backend::postgresql) return open_pg_store(options, error);
  Db db = open_db(options.path, true, error, wal_writes_vfs());
  if (!db || !set_pragmas(db.get(), options, error) ||
      !create_schema(db.get(), options.path, chain_name(options.hmac_key),
                     key_check(options.hmac_key), error)) {
    return nullptr;
  }
  Statements stmts;
  if (!prepare_statements(db.get(), options.path, &stmts, error)) return nullptr;
  auto writer = std::make_unique<SqliteBatchWriter>(options, std::move(db), std::move(stmts));
  if (!writer->load_head(error) || !writer->start(error)) return nullptr;
  return make_group_commit_store(std::move(writer), options.commit_on_flush, options.path);
}

}  // namespace pgw::store
