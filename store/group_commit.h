// The queueing half of an AuditStore, common to both backends: lanes of appended records and
// outcomes, group commits by the thread that flushes or by a writer thread, callbacks, and
// outcomes kept for a retry when a commit fails. What a commit writes, and where, is a
// BatchWriter's business.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "store/audit.h"
#include "store/chain.h"

namespace pgw::store {

struct PendingRecord {
  AuditRecord record;
  std::function<void(AppendResult)> done;
  // Set by the BatchWriter once written: the record's seq, and the approval id of a hold.
  int64_t seq = 0;
  int64_t approval_id = 0;
};
struct PendingOutcome {
  Outcome outcome;
};
using Pending = std::variant<PendingRecord, PendingOutcome>;

// Writes batches to one backend. Called by one committer at a time.
class BatchWriter {
 public:
  virtual ~BatchWriter() = default;
  // Writes the batch as one transaction, numbering its records, or nothing of it (false and
  // `error` set, the chains continuing from what is committed). An outcome for a record that has
  // one already is left out.
  virtual bool write_batch(std::span<Pending> batch, std::string* error) = 0;
  // Called once everything queued is committed, before the store is destroyed.
  virtual void close() {}
};

// Where an instance's two chains end: its last record's seq and hash, and the record seq and hash
// of its last outcome (0 and the genesis hash for an empty chain).
struct ChainEnds {
  int64_t record_seq = 0;
  std::string record_hash = kGenesisHash;
  int64_t outcome_seq = 0;
  std::string outcome_hash = kGenesisHash;
};

// The sessions whose rows a BatchWriter has written, by the address of their SessionRecord: each
// kept alive while in the map, so that its address is not reused by another session, and
// forgotten once nobody else holds it (it will append no record).
class SessionRows {
 public:
  // The row id of `session`, if written (or written in the batch being written).
  std::optional<int64_t> find(const SessionRecord* session) const;
  // Notes the row written for `session` in the batch being written.
  void add(SessionRef session, int64_t row);
  // The batch is committed: its rows stay; sessions that ended are forgotten now and then.
  void committed();
  // The batch failed: the rows it wrote are forgotten.
  void rolled_back();

 private:
  std::unordered_map<const SessionRecord*, std::pair<SessionRef, int64_t>> rows_;
  std::vector<const SessionRecord*> added_;
  size_t sweep_at_ = 1024;  // size at which ended sessions are forgotten
};

// An AuditStore over `writer`. `commit_on_flush` as in Options; `what` names the store in the
// error of an append after close().
std::unique_ptr<AuditStore> make_group_commit_store(std::unique_ptr<BatchWriter> writer,
                                                    bool commit_on_flush, std::string what);

}  // namespace pgw::store
