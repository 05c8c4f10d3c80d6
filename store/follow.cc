// AuditFollower: `audit export --follow`, the store's records written as they are committed. Each
// poll reads one snapshot of the store: every instance's last seq (audit_head, or audit_instance
// of a PostgreSQL store, written in the same transaction as the records), then per instance the
// first record after the position that is still waiting for its outcome, and writes the export
// rows up to that one. Records are committed in seq order per instance, so nothing is skipped.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <utility>

#include "store/audit.h"
#include "store/export_rows.h"
#include "store/pg_cursor.h"
#include "store/schema.h"

namespace pgw::store {

// One snapshot of a store after another, and the queries run on them.
class FollowSource {
 public:
  virtual ~FollowSource() = default;
  // Starts and ends reading one snapshot.
  virtual bool begin(std::string* error) = 0;
  virtual void end() = 0;
  // The rows of `query` in the current snapshot; null with `error` set if it cannot be run.
  virtual std::unique_ptr<RowCursor> rows(const Query& query, std::string* error) = 0;
  // Whether the last failure is one that reopening the store may cure (a lost connection, a
  // lock held while pgwarden recovers the store after a crash).
  virtual bool lost() const = 0;
  // Each instance's name and the seq of its last committed record.
  virtual const char* heads_sql() const = 0;
};

namespace {

class SqliteSource final : public FollowSource {
 public:
  SqliteSource(Db db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  bool begin(std::string* error) override { return exec(db_.get(), "BEGIN", path_, error); }
  void end() override { sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr); }
  std::unique_ptr<RowCursor> rows(const Query& query, std::string* error) override {
    return sqlite_rows(db_.get(), query, path_, error);
  }
  bool lost() const override {
    int code = sqlite3_errcode(db_.get()) & 0xff;
    return code == SQLITE_BUSY || code == SQLITE_LOCKED;
  }
  const char* heads_sql() const override {
    return "SELECT '', record_seq FROM audit_head WHERE id = 1";
  }

 private:
  Db db_;
  std::string path_;
};

class PgSource final : public FollowSource {
 public:
  PgSource(PgConn conn, PgLocation where) : conn_(std::move(conn)), where_(std::move(where)) {}
  bool begin(std::string* error) override { return begin_pg_read(conn_.get(), where_, error); }
  void end() override {
    std::string ignored;
    pg_exec(conn_.get(), "ROLLBACK", {}, where_.describe(), &ignored);
  }
  std::unique_ptr<RowCursor> rows(const Query& query, std::string*) override {
    return pg_rows(conn_.get(), query, where_.describe());
  }
  bool lost() const override { return PQstatus(conn_.get()) != CONNECTION_OK; }
  const char* heads_sql() const override {
    return "SELECT name, record_seq FROM audit_instance ORDER BY name";
  }

 private:
  PgConn conn_;
  PgLocation where_;
};

// A SQLite store that pgwarden has not created yet: no file, or one not yet written.
bool not_created(const std::string& path) {
  std::error_code ec;
  return !std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0;
}

bool parse_seq(std::string_view text, int64_t* seq) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *seq);
  return ec == std::errc() && end == text.data() + text.size() && *seq >= 0;
}

// The names of `heads`, for messages.
std::string names_of(const std::vector<std::pair<std::string, int64_t>>& heads) {
  std::string out;
  for (const auto& [name, head] : heads) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

// Restricts `query` to the records of instance `name` (of a PostgreSQL store; a SQLite store has
// one chain) with seq in (after, through].
void restrict_to(Query* query, Backend backend, const std::string& name, int64_t after,
                 int64_t through) {
  query->term("r.seq", ">", after);
  query->term("r.seq", "<=", through);
  if (backend == Backend::postgresql) query->term("r.instance", "=", name);
}

}  // namespace

std::optional<FollowPositions> parse_after_seq(const std::string& text, std::string* error) {
  FollowPositions out;
  int64_t seq = 0;
  if (parse_seq(text, &seq)) {
    out[""] = seq;
    return out;
  }
  for (size_t start = 0; start <= text.size();) {
    size_t end = std::min(text.find(',', start), text.size());
    std::string_view part = std::string_view(text).substr(start, end - start);
    size_t colon = part.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || !parse_seq(part.substr(colon + 1), &seq)) {
      *error = fmt::format("--after-seq \"{}\": \"{}\" is neither a seq nor instance:seq", text,
                           part);
      return std::nullopt;
    }
    if (!out.emplace(std::string(part.substr(0, colon)), seq).second) {
      *error = fmt::format("--after-seq \"{}\" names instance {} twice", text,
                           part.substr(0, colon));
      return std::nullopt;
    }
    start = end + 1;
  }
  return out;
}

AuditFollower::AuditFollower(StoreLocation store, ExportFilter filter, ExportFormat format,
                             FollowPositions after)
    : store_(std::move(store)),
      filter_(std::move(filter)),
      format_(format),
      positions_(std::move(after)) {
  filter_.until_us.reset();
}

AuditFollower::~AuditFollower() = default;

bool AuditFollower::open(std::string* error) {
  if (store_.backend == Backend::sqlite) {
    if (not_created(store_.path)) return true;
    Db db = open_db(store_.path, false, error);
    if (!db || !check_schema(db.get(), store_.path, error)) return false;
    source_ = std::make_unique<SqliteSource>(std::move(db), store_.path);
    return true;
  }
  PgLocation where{store_.dsn, store_.schema};
  PgConn conn = pg_connect(where.dsn, where.describe(), error);
  if (!conn || !check_pg_schema(conn.get(), where, error)) return false;
  source_ = std::make_unique<PgSource>(std::move(conn), std::move(where));
  return true;
}

bool AuditFollower::resolve_positions(const std::vector<std::pair<std::string, int64_t>>& heads,
                                      std::string* error) {
  if (auto plain = positions_.find(""); plain != positions_.end() && !heads.empty() &&
                                        heads[0].first != "") {
    if (heads.size() != 1) {
      *error = fmt::format("--after-seq {}: the store has {} instances ({}); name each one's "
                           "position, as in --after-seq {}:{}",
                           plain->second, heads.size(), names_of(heads), heads[0].first,
                           plain->second);
      return false;
    }
    positions_.emplace(heads[0].first, plain->second);
    positions_.erase(plain);
  }
  for (const auto& [name, seq] : positions_) {
    auto head = std::find_if(heads.begin(), heads.end(),
                             [&wanted = name](const auto& h) { return h.first == wanted; });
    if (head == heads.end() && store_.backend == Backend::sqlite) {
      *error = fmt::format("--after-seq names instance {}, but a SQLite store has one chain: give "
                           "a plain seq",
                           name);
      return false;
    }
    if (head == heads.end()) {
      *error = name.empty() ? "--after-seq: the store has no instance yet"
                            : fmt::format("--after-seq names instance {}, which the store does "
                                          "not have (it has: {})",
                                          name, names_of(heads));
      return false;
    }
    if (seq > head->second) {
      *error = fmt::format("--after-seq {}{}: the last record {}is seq {}",
                           name.empty() ? "" : name + ":", seq,
                           name.empty() ? "" : "of " + name + " ", head->second);
      return false;
    }
  }
  return true;
}

AuditFollower::Poll AuditFollower::poll(int64_t now_us, std::ostream& out, std::string* error) {
  if (!started_) {
    RowWriter(format_, out).header();
    started_ = true;
  }
  if (!source_ && !open(error)) return resolved_ ? Poll::retry : Poll::failed;
  if (!source_) return Poll::caught_up;
  if (!source_->begin(error)) {
    if (!source_->lost()) return Poll::failed;
    source_.reset();
    return Poll::retry;
  }
  bool more = false;
  bool ok = read_snapshot(now_us, out, &more, error);
  source_->end();
  if (ok) return more ? Poll::more : Poll::caught_up;
  if (!source_->lost()) return Poll::failed;
  source_.reset();
  return Poll::retry;
}

bool AuditFollower::read_snapshot(int64_t now_us, std::ostream& out, bool* more,
                                  std::string* error) {
  std::vector<std::pair<std::string, int64_t>> heads;
  {
    std::unique_ptr<RowCursor> rows = source_->rows(Query{source_->heads_sql(), {}}, error);
    if (!rows) return false;
    for (const Columns* row = rows->next(error); row; row = rows->next(error)) {
      heads.emplace_back(row->text(0), row->integer(1));
    }
    if (!error->empty()) return false;
  }
  if (!resolved_ && !resolve_positions(heads, error)) return false;
  resolved_ = true;
  for (const auto& [name, head] : heads) {
    if (!follow_instance(name, head, now_us, out, more, error)) return false;
  }
  return true;
}

bool AuditFollower::follow_instance(const std::string& name, int64_t head, int64_t now_us,
                                    std::ostream& out, bool* more, std::string* error) {
  int64_t& position = positions_[name];
  if (head < position) {
    *error = fmt::format("audit store {}: the last record{} is seq {}, before seq {} already "
                         "read: the store was replaced",
                         store_.describe(), name.empty() ? "" : " of " + name, head, position);
    return false;
  }
  int64_t through = std::min(head, position + kBatch);
  int64_t settled = through;
  {
    Query waiting{fmt::format("SELECT min(r.seq) FROM audit_statement r LEFT JOIN audit_outcome "
                              "o ON {} WHERE o.seq IS NULL",
                              outcome_join(store_.backend)),
                  {}};
    restrict_to(&waiting, store_.backend, name, position, through);
    waiting.term("r.ts_us", ">", now_us - std::chrono::microseconds(kFollowSettle).count());
    std::unique_ptr<RowCursor> rows = source_->rows(waiting, error);
    const Columns* row = rows ? rows->next(error) : nullptr;
    if (!error->empty()) return false;
    if (row && !row->null(0)) settled = row->integer(0) - 1;
  }
  if (settled > position) {
    Query query = export_query(store_.backend, filter_);
    restrict_to(&query, store_.backend, name, position, settled);
    query.sql += " ORDER BY r.seq";
    std::unique_ptr<RowCursor> rows = source_->rows(query, error);
    if (!rows) return false;
    RowWriter writer(format_, out);
    for (const Columns* row = rows->next(error); row; row = rows->next(error)) {
      writer.row(*row);
      position = row->integer(0);
    }
    if (!error->empty()) return false;
    position = settled;
  }
  *more = *more || (settled == through && through < head);
  return true;
}

}  // namespace pgw::store
