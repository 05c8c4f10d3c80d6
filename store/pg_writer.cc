// PgBatchWriter: each batch is one pipelined round trip (the inserts and the head update, then a
// Sync that commits them as one implicit transaction), with the instance's chains continued in
// memory and reloaded from the store after a failure.
#include "store/pg_writer.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <tuple>

#include "store/chain.h"
#include "store/group_commit.h"
#include "store/pg_schema.h"
#include "store/row.h"

namespace pgw::store {
namespace {

using Clock = std::chrono::steady_clock;

// After a failed connection attempt, batches fail at once with its error for this long before
// the next attempt, so that a store that is down refuses statements quickly.
constexpr std::chrono::seconds kReconnectDelay{1};
// Most times a batch is written again after one of its outcomes turned out to be a second
// outcome of its record (left out, as the SQLite store leaves it out).
constexpr int kMaxDuplicateRetries = 8;

constexpr const char* kInsertSession =
    "INSERT INTO audit_session (instance, id, principal, attribution, job_id, commit_ref, "
    "session_id, client_addr, database_name, upstream_role, application_name) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
constexpr const char* kInsertRecord =
    "INSERT INTO audit_statement (instance, seq, session, ts_us, protocol, command, classes, "
    "tables_read, tables_written, fingerprint, statement, parameters, decision, rule, approver, "
    "expires_us, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
    "$16, $17)";
constexpr const char* kInsertApproval =
    "INSERT INTO approval (instance, seq, approvers, required) VALUES ($1, $2, $3, $4) "
    "RETURNING id";
constexpr const char* kInsertOutcome =
    "INSERT INTO audit_outcome (instance, seq, prev, row_count, sqlstate, error, duration_ms, "
    "masked_values, decision, approver, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
    "$11)";
constexpr const char* kSetHead =
    "UPDATE audit_instance SET record_seq = $2, outcome_seq = $3, session_seq = $4, seen_us = $5 "
    "WHERE name = $1";

// One statement's parameters, kept alive until it is sent: text values unless marked binary.
struct Params {
  std::deque<std::string> owned;  // storage for values made here (numbers, repaired text)
  std::vector<std::string_view> values;
  std::vector<bool> null, binary;

  void text(std::string_view v) {
    std::string copy;
    std::string_view stored = pg_storable(v, &copy);
    if (!copy.empty()) {
      owned.push_back(std::move(copy));
      stored = owned.back();
    }
    add(stored, false, false);
  }
  void number(int64_t v) {
    owned.push_back(std::to_string(v));
    add(owned.back(), false, false);
  }
  void real(double v) {
    owned.push_back(fmt::format("{}", v));
    add(owned.back(), false, false);
  }
  void bytes(std::string_view v) { add(v, false, true); }
  void missing() { add({}, true, false); }
  void add(std::string_view v, bool is_null, bool is_binary) {
    values.push_back(v);
    null.push_back(is_null);
    binary.push_back(is_binary);
  }
  void clear() {
    owned.clear();
    values.clear();
    null.clear();
    binary.clear();
  }
};

// What each statement sent in a batch's pipeline was, to read its result.
enum class Sent { session, record, approval, outcome, owed_outcome, head };
struct SentStatement {
  Sent kind;
  size_t item;  // index in the batch (in unconfirmed_ for an owed outcome)
};

// `value` as text columns take it, which is also what its hash covers: `value` itself when every
// text field of `fields_of(value)` but the one numbered `bytea_field` is valid UTF-8 without NUL,
// else a copy in `*repaired` with U+FFFD for what is not.
template <typename T, typename FieldsOf>
const T& storable(const T& value, T* repaired, FieldsOf fields_of, int bytea_field = -1) {
  std::string copy;
  auto needs_repair = [&](const std::string& field) {
    return pg_storable(field, &copy).data() != field.data();
  };
  auto fields = fields_of(value);
  bool any = false;
  for (int i = 0; !any && i < static_cast<int>(fields.size()); ++i) {
    any = i != bytea_field && needs_repair(*fields[i]);
  }
  if (!any) return value;
  *repaired = value;
  auto out = fields_of(*repaired);
  for (int i = 0; i < static_cast<int>(out.size()); ++i) {
    if (i != bytea_field && needs_repair(*out[i])) *out[i] = std::move(copy);
  }
  return *repaired;
}

template <typename O>
auto outcome_text_fields(O& o) {
  return std::array{&o.sqlstate, &o.error, &o.decision, &o.approver};
}

class PgBatchWriter final : public BatchWriter {
 public:
  explicit PgBatchWriter(const Options& options)
      : where_{options.dsn, options.schema}, what_(where_.describe()), instance_(options.instance),
        durability_(options.durability), chain_(chain_name(options.hmac_key)),
        key_check_(key_check(options.hmac_key)), hasher_(options.hmac_key) {}

  bool connect(std::string* error);
  bool write_batch(std::span<Pending> batch, std::string* error) override;
  void close() override { conn_.reset(); }

 private:
  bool ensure_connected(std::string* error);
  bool register_instance(std::string* error);
  bool load_head(std::string* error);
  bool prepare_statements(std::string* error);
  bool write_once(std::span<Pending> batch, std::vector<bool>* left_out, bool* duplicate,
                  std::string* error);
  bool send_record(PendingRecord& item, size_t index, std::string* error);
  bool send_outcome(const Outcome& outcome, Sent kind, size_t index, std::string* error);
  bool send(const char* name, Sent kind, size_t index, std::string* error);
  bool read_results(std::span<Pending> batch, std::vector<bool>* left_out, bool* duplicate,
                    std::string* error);
  PGresult* next_result(Clock::time_point deadline, bool* ok, std::string* error);
  bool flush_output(Clock::time_point deadline, std::string* error);
  bool wait_socket(short events, Clock::time_point deadline, std::string* error);
  void drop_connection(const std::string& why);
  void give_up_batch(const std::string& why);
  bool take_instance_lock(std::string* error);
  void settle_unconfirmed();

  const PgLocation where_;
  const std::string what_;
  const std::string instance_;
  const Durability durability_;
  const std::string chain_, key_check_;
  ChainHasher hasher_;
  PgConn conn_;
  std::string last_connect_error_;
  Clock::time_point next_attempt_{};
  ChainEnds committed_, batch_;
  int64_t session_seq_ = 0, batch_session_seq_ = 0;  // the instance's last session row id
  SessionRows sessions_;
  int backend_pid_ = 0;  // of the store session of the last connection
  // The last record seq confirmed before a batch whose commit went unconfirmed (the connection
  // failed after it was sent), and the outcomes owed to such records once they are found
  // committed, written with the next batch.
  std::optional<int64_t> unconfirmed_after_;
  std::vector<Outcome> unconfirmed_;
  std::string canonical_;
  Params params_;
  std::vector<SentStatement> sent_;
};

bool PgBatchWriter::connect(std::string* error) {
  conn_ = pg_connect(where_.dsn, what_, error);
  if (!conn_) return false;
  // `commit` survives pgwarden's crash, as a SQLite commit without fsync does; `fsync` survives
  // the store's too.
  const char* sync = durability_ == Durability::fsync ? "on" : "off";
  bool ok = pg_bound_statements(conn_.get(), what_, error) &&
            create_pg_schema(conn_.get(), where_, chain_, key_check_, error) &&
            take_instance_lock(error) &&
            announce_live(conn_.get(), where_, instance_, error) &&
            pg_exec(conn_.get(), "SELECT pg_catalog.set_config('synchronous_commit', $1, false)",
                    {sync}, what_, error) &&
            register_instance(error) && load_head(error) && prepare_statements(error);
  if (ok && PQsetnonblocking(conn_.get(), 1) != 0) {
    *error = pg_error(conn_.get(), what_, "cannot make the connection non-blocking");
    ok = false;
  }
  if (ok) {
    backend_pid_ = PQbackendPID(conn_.get());
    settle_unconfirmed();
  } else {
    conn_.reset();
  }
  return ok;
}

// The instance's name, taken back from this process's own earlier connection if the store still
// serves it (pgwarden gave up on it when the store did not answer in time).
bool PgBatchWriter::take_instance_lock(std::string* error) {
  if (lock_instance(conn_.get(), where_, instance_, error)) return true;
  if (backend_pid_ == 0 ||
      !end_abandoned_session(conn_.get(), where_, instance_, backend_pid_, error)) {
    return false;
  }
  error->clear();
  return lock_instance(conn_.get(), where_, instance_, error);
}

// Records of a batch whose commit was not confirmed but that the store did commit (the chain's
// head, reloaded, is past them): their statements were refused, and their outcomes say so.
void PgBatchWriter::settle_unconfirmed() {
  if (!unconfirmed_after_) return;
  for (int64_t seq = *unconfirmed_after_ + 1; seq <= committed_.record_seq; ++seq) {
    Outcome o;
    o.seq = seq;
    o.sqlstate = "58030";
    o.error = "not executed: the audit store did not confirm the record in time";
    unconfirmed_.push_back(std::move(o));
  }
  unconfirmed_after_.reset();
}

// The instance's row: its chain heads, created on the instance's first start.
bool PgBatchWriter::register_instance(std::string* error) {
  std::string now = std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  return pg_exec(conn_.get(),
                 "INSERT INTO audit_instance (name, started_us, seen_us) VALUES ($1, $2, $2) "
                 "ON CONFLICT (name) DO UPDATE SET started_us = $2, seen_us = $2",
                 {instance_, now}, what_, error) != nullptr;
}

bool PgBatchWriter::load_head(std::string* error) {
  PgResult head = pg_exec(conn_.get(),
                          "SELECT record_seq, outcome_seq, session_seq FROM audit_instance "
                          "WHERE name = $1",
                          {instance_}, what_, error);
  if (!head || PQntuples(head.get()) != 1) {
    if (head) *error = fmt::format("audit store {}: instance {} has no row", what_, instance_);
    return false;
  }
  committed_ = ChainEnds{};
  committed_.record_seq = pg_int(head.get(), 0, 0);
  committed_.outcome_seq = pg_int(head.get(), 0, 1);
  session_seq_ = pg_int(head.get(), 0, 2);
  for (auto [table, seq, hash] :
       {std::tuple{"audit_statement", committed_.record_seq, &committed_.record_hash},
        {"audit_outcome", committed_.outcome_seq, &committed_.outcome_hash}}) {
    if (seq == 0) continue;
    PgResult row = pg_exec(conn_.get(),
                           fmt::format("SELECT hash FROM {} WHERE instance = $1 AND seq = $2",
                                       table),
                           {instance_, std::to_string(seq)}, what_, error);
    if (!row) return false;
    if (PQntuples(row.get()) != 1) {
      *error = fmt::format("audit store {}: cannot read the hash of {} row {} of instance {} at "
                           "its chain's head",
                           what_, table, seq, instance_);
      return false;
    }
    *hash = pg_bytea(row.get(), 0, 0);
  }
  return true;
}

bool PgBatchWriter::prepare_statements(std::string* error) {
  for (auto [name, sql] : {std::pair{"session", kInsertSession}, {"record", kInsertRecord},
                           {"approval", kInsertApproval}, {"outcome", kInsertOutcome},
                           {"head", kSetHead}}) {
    PgResult res(PQprepare(conn_.get(), name, sql, 0, nullptr));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      *error = pg_error(conn_.get(), what_, fmt::format("cannot prepare the {} insert", name));
      return false;
    }
  }
  return true;
}

// Connects again after a failure, at most once per kReconnectDelay. A connection the store
// closed while it was idle (a restart) is noticed here, before a batch is tried on it.
bool PgBatchWriter::ensure_connected(std::string* error) {
  if (conn_) {
    // A store that shuts down sends an error, then closes: read what came, up to the close.
    bool closed = false;
    pollfd fd{PQsocket(conn_.get()), POLLIN, 0};
    for (int reads = 0; !closed && reads < 4 && poll(&fd, 1, 0) > 0; ++reads) {
      closed = !PQconsumeInput(conn_.get()) || PQstatus(conn_.get()) != CONNECTION_OK;
    }
    if (!closed) return true;
    conn_.reset();
  }
  if (Clock::now() < next_attempt_) {
    *error = last_connect_error_;
    return false;
  }
  if (connect(error)) return true;
  last_connect_error_ = *error;
  next_attempt_ = Clock::now() + kReconnectDelay;
  return false;
}

// The connection failed after the batch was sent: whether the store committed it is unknown
// until the next connection reads the chain's head.
void PgBatchWriter::give_up_batch(const std::string& why) {
  if (!unconfirmed_after_) unconfirmed_after_ = committed_.record_seq;
  drop_connection(why);
}

void PgBatchWriter::drop_connection(const std::string& why) {
  conn_.reset();
  last_connect_error_ = why;
  next_attempt_ = Clock::now();  // the next batch tries at once
}

bool PgBatchWriter::write_batch(std::span<Pending> batch, std::string* error) {
  std::vector<bool> left_out(batch.size(), false);
  for (int attempt = 0; attempt <= kMaxDuplicateRetries; ++attempt) {
    if (!ensure_connected(error)) return false;
    bool duplicate = false;
    if (write_once(batch, &left_out, &duplicate, error)) {
      unconfirmed_.clear();
      committed_ = std::move(batch_);
      session_seq_ = batch_session_seq_;
      sessions_.committed();
      return true;
    }
    sessions_.rolled_back();
    if (!duplicate) return false;
    error->clear();
  }
  *error = fmt::format("audit store {}: a batch kept failing on outcomes written twice", what_);
  return false;
}

// Sends the batch (all but the outcomes `left_out`) and its head update in one pipeline, then
// reads every result. A second outcome for a record fails the transaction: it is marked in
// `left_out` and `duplicate` is set, for the caller to write the batch again without it.
bool PgBatchWriter::write_once(std::span<Pending> batch, std::vector<bool>* left_out,
                               bool* duplicate, std::string* error) {
  batch_ = committed_;
  batch_session_seq_ = session_seq_;
  sent_.clear();
  PGconn* conn = conn_.get();
  if (!PQenterPipelineMode(conn)) {
    drop_connection(pg_error(conn, what_, "cannot enter pipeline mode"));
    *error = last_connect_error_;
    return false;
  }
  bool ok = true;
  for (size_t i = 0; ok && i < unconfirmed_.size(); ++i) {
    ok = send_outcome(unconfirmed_[i], Sent::owed_outcome, i, error);
  }
  for (size_t i = 0; ok && i < batch.size(); ++i) {
    if ((*left_out)[i]) continue;
    if (auto* record = std::get_if<PendingRecord>(&batch[i])) {
      ok = send_record(*record, i, error);
    } else {
      ok = send_outcome(std::get<PendingOutcome>(batch[i]).outcome, Sent::outcome, i, error);
    }
  }
  if (ok) {
    params_.clear();
    params_.text(instance_);
    params_.number(batch_.record_seq);
    params_.number(batch_.outcome_seq);
    params_.number(batch_session_seq_);
    params_.number(std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count());
    ok = send("head", Sent::head, 0, error);
  }
  if (ok && !PQpipelineSync(conn)) {
    *error = pg_error(conn, what_, "cannot send the commit");
    ok = false;
  }
  if (!ok) {
    drop_connection(*error);
    return false;
  }
  return read_results(batch, left_out, duplicate, error);
}

bool PgBatchWriter::send_record(PendingRecord& item, size_t index, std::string* error) {
  const AuditRecord& record = item.record;
  static const SessionRecord kNoSession;
  const SessionRecord& session = record.session ? *record.session : kNoSession;
  // Stored text must be valid UTF-8 without NULs: hashed as stored, so that verify agrees.
  SessionRecord repaired_session;
  const SessionRecord* stored = &storable(session, &repaired_session,
                                          [](auto& s) { return session_text_fields(s); });
  std::optional<int64_t> row = sessions_.find(record.session.get());
  if (!row) {
    row = ++batch_session_seq_;
    params_.clear();
    params_.text(instance_);
    params_.number(*row);
    for (const std::string* field : session_text_fields(*stored)) params_.text(*field);
    if (!send("session", Sent::session, index, error)) return false;
    sessions_.add(record.session, *row);
  }
  AuditRecord repaired_record;
  const AuditRecord* fields = &storable(record, &repaired_record,
                                        [](auto& r) { return record_text_fields(r); },
                                        kRecordStatementField);
  item.seq = ++batch_.record_seq;
  canonical_.clear();
  encode_record(item.seq, instance_, *stored, *fields, &canonical_);
  batch_.record_hash = hasher_.next(batch_.record_hash, canonical_);
  if (batch_.record_hash.empty()) {
    *error = fmt::format("audit store {}: cannot compute the chain hash (OpenSSL)", what_);
    return false;
  }
  params_.clear();
  params_.text(instance_);
  params_.number(item.seq);
  params_.number(*row);
  params_.number(fields->ts_us);
  for (const std::string* field : record_text_fields(*fields)) {
    if (field == &fields->statement) params_.bytes(*field);
    else params_.text(*field);
  }
  params_.number(fields->expires_us);
  params_.bytes(batch_.record_hash);
  if (!send("record", Sent::record, index, error)) return false;
  if (record.decision != "hold") return true;
  params_.clear();
  params_.text(instance_);
  params_.number(item.seq);
  params_.text(record.hold_approvers);
  params_.number(record.approvals_required);
  return send("approval", Sent::approval, index, error);
}

bool PgBatchWriter::send_outcome(const Outcome& outcome, Sent kind, size_t index,
                                 std::string* error) {
  Outcome repaired;
  const Outcome* stored = &storable(outcome, &repaired, [](auto& o) { return outcome_text_fields(o); });
  canonical_.clear();
  encode_outcome(batch_.outcome_seq, *stored, &canonical_);
  std::string hash = hasher_.next(batch_.outcome_hash, canonical_);
  if (hash.empty()) {
    *error = fmt::format("audit store {}: cannot compute the chain hash (OpenSSL)", what_);
    return false;
  }
  params_.clear();
  params_.text(instance_);
  params_.number(stored->seq);
  params_.number(batch_.outcome_seq);
  if (stored->rows) params_.number(*stored->rows);
  else params_.missing();
  params_.text(stored->sqlstate);
  params_.text(stored->error);
  params_.real(stored->duration_ms);
  params_.number(stored->masked_values);
  params_.text(stored->decision);
  params_.text(stored->approver);
  params_.bytes(hash);
  if (!send("outcome", kind, index, error)) return false;
  batch_.outcome_seq = stored->seq;
  batch_.outcome_hash = std::move(hash);
  return true;
}

// Queues the prepared statement `name` with params_.
bool PgBatchWriter::send(const char* name, Sent kind, size_t index, std::string* error) {
  size_t n = params_.values.size();
  std::vector<const char*> values(n);
  std::vector<int> lengths(n), formats(n);
  for (size_t i = 0; i < n; ++i) {
    values[i] = params_.null[i] ? nullptr : params_.values[i].data();
    lengths[i] = static_cast<int>(params_.values[i].size());
    formats[i] = params_.binary[i] ? 1 : 0;
  }
  if (!PQsendQueryPrepared(conn_.get(), name, static_cast<int>(n), values.data(), lengths.data(),
                           formats.data(), 0)) {
    *error = pg_error(conn_.get(), what_, "cannot send a row");
    return false;
  }
  sent_.push_back(SentStatement{kind, index});
  return true;
}

// Reads the result of every statement sent, then the Sync's: the batch is committed if all
// succeeded. Within kPgStoreTimeout, or the connection is given up.
bool PgBatchWriter::read_results(std::span<Pending> batch, std::vector<bool>* left_out,
                                 bool* duplicate, std::string* error) {
  Clock::time_point deadline = Clock::now() + kPgStoreTimeout;
  if (!flush_output(deadline, error)) {
    give_up_batch(*error);
    return false;
  }
  std::string failure;
  for (const SentStatement& s : sent_) {
    bool ok = true;
    PgResult res(next_result(deadline, &ok, error));
    if (!ok) {
      give_up_batch(*error);
      return false;
    }
    ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK && s.kind == Sent::approval && PQntuples(res.get()) == 1) {
      std::get<PendingRecord>(batch[s.item]).approval_id = pg_int(res.get(), 0, 0);
    } else if (status == PGRES_FATAL_ERROR && failure.empty()) {
      const char* state = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
      if (s.kind == Sent::outcome && state && std::string_view(state) == "23505") {
        (*left_out)[s.item] = true;
        *duplicate = true;
      }
      std::string message = res ? PQresultErrorMessage(res.get()) : "no result";
      while (!message.empty() && message.back() == '\n') message.pop_back();
      std::replace(message.begin(), message.end(), '\n', ' ');
      failure = fmt::format("audit store {}: cannot write the batch: {}", what_, message);
    }
    if (res) {
      PgResult end(next_result(deadline, &ok, error));  // the null that ends each result
      if (!ok) {
        give_up_batch(*error);
        return false;
      }
    }
  }
  bool ok = true;
  PgResult sync(next_result(deadline, &ok, error));
  if (!ok || !sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC ||
      !PQexitPipelineMode(conn_.get())) {
    if (ok) *error = pg_error(conn_.get(), what_, "the commit did not complete");
    give_up_batch(*error);
    return false;
  }
  if (failure.empty()) return true;
  *error = failure;
  return false;
}

// The next result of the pipeline (null between statements' results), waiting until `deadline`;
// `ok` false and `error` set if the connection failed or the store did not answer in time.
PGresult* PgBatchWriter::next_result(Clock::time_point deadline, bool* ok, std::string* error) {
  while (PQisBusy(conn_.get())) {
    if (!wait_socket(POLLIN, deadline, error)) {
      *ok = false;
      return nullptr;
    }
    if (!PQconsumeInput(conn_.get())) {
      *error = pg_error(conn_.get(), what_, "lost the connection");
      *ok = false;
      return nullptr;
    }
  }
  return PQgetResult(conn_.get());
}

bool PgBatchWriter::flush_output(Clock::time_point deadline, std::string* error) {
  int rc;
  while ((rc = PQflush(conn_.get())) == 1) {
    if (!wait_socket(POLLOUT | POLLIN, deadline, error)) return false;
    if (!PQconsumeInput(conn_.get())) {
      *error = pg_error(conn_.get(), what_, "lost the connection");
      return false;
    }
  }
  if (rc == 0) return true;
  *error = pg_error(conn_.get(), what_, "cannot send the batch");
  return false;
}

bool PgBatchWriter::wait_socket(short events, Clock::time_point deadline, std::string* error) {
  pollfd fd{PQsocket(conn_.get()), events, 0};
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      *error = fmt::format("audit store {}: no answer within {} s", what_,
                           kPgStoreTimeout.count());
      return false;
    }
    int rc = poll(&fd, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) {
      *error = fmt::format("audit store {}: cannot wait for the connection: {}", what_,
                           std::strerror(errno));
      return false;
    }
  }
}

}  // namespace

std::unique_ptr<AuditStore> open_pg_store(const Options& options, std::string* error) {
  auto writer = std::make_unique<PgBatchWriter>(options);
  if (!writer->connect(error)) return nullptr;
  PgLocation where{options.dsn, options.schema};
  return make_group_commit_store(std::move(writer), false, where.describe());
}

}  // namespace pgw::store
