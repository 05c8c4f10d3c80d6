// Cutting the front of a chain (SPEC section 13), the same on both backends: where the cut may
// fall, the anchor that records it, and the deletes in short transactions. A backend hands one
// chain to prune_chain() through a PruneTarget.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/audit.h"
#include "store/schema.h"

namespace pgw::store {

// One chain of a store as a prune reads and changes it.
class PruneTarget {
 public:
  virtual ~PruneTarget() = default;
  // The chain's newest anchor, or nothing if it was never pruned.
  virtual bool newest_anchor(std::optional<Anchor>* anchor, std::string* error) = 0;
  // Where the writer last left the chain.
  virtual bool head(ChainHead* head, std::string* error) = 0;
  // The first record after `after` whose ts is `before_us` or later; 0 if there is none.
  virtual bool first_not_before(int64_t after, int64_t before_us, int64_t* seq,
                                std::string* error) = 0;
  // The outcomes of the records after `after` up to `through`, as (seq, prev) pairs.
  virtual bool outcome_links(int64_t after, int64_t through,
                             std::vector<std::pair<int64_t, int64_t>>* links,
                             std::string* error) = 0;
  // The hash of the record `seq`, or of its outcome.
  virtual bool row_hash(RowKind kind, int64_t seq, std::string* hash, std::string* error) = 0;
  // Commits the anchor (refused if another prune wrote one with its number meanwhile).
  virtual bool insert_anchor(const Anchor& anchor, std::string* error) = 0;
  // Deletes the records first..last and their outcomes in one short transaction.
  virtual bool delete_rows(int64_t first, int64_t last, std::string* error) = 0;
};

// How many records (and their outcomes) one transaction of a prune deletes: a few milliseconds
// during which the writer waits.
inline constexpr int64_t kPruneBatch = 1000;

// Cuts the front of `target`'s chain (`instance`'s): finishes the deletes of its newest anchor,
// then anchors and deletes the records `request` allows, request.anchor_span at the most per
// anchor. The anchors written are added to `written`; `note` says why the cut stops short of
// `request.before_us`, if it does.
bool prune_chain(PruneTarget& target, const std::string& instance, const PruneRequest& request,
                 std::vector<Anchor>* written, std::string* note, std::string* error);

// prune_audit() for a PostgreSQL store.
bool prune_postgres(const StoreLocation& store, const PruneRequest& request, PruneResult* result,
                    std::string* error);

}  // namespace pgw::store
