// Held statements shared by the instances of a PostgreSQL store (SPEC section 11): any instance
// lists every instance's requests and casts an approver's vote on another's; the instance that
// holds the statement hears of the vote at once (LISTEN/NOTIFY), takes it as if given on its own
// console, and settles the request in its own chain. Requests of an instance that is gone are
// settled `withdrawn` by whichever instance notices first. A thread of its own, with a connection
// of its own, does all of it: nothing here blocks the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/audit.h"

namespace pgw::store {

// An approver's word on a held statement, or an instance's notice that its holder is gone.
struct Vote {
  int64_t approval_id = 0;
  int64_t seq = 0;          // the held statement's record, on the holding instance
  std::string verdict;      // approve, reject, withdraw
  std::string principal;    // who decided (for withdraw: the instance that noticed)
  std::string reason;
  std::string from_instance;
};

class SharedApprovals {
 public:
  // Connects to the store of `options` (backend postgresql) and starts listening. `on_vote` runs
  // on the thread of SharedApprovals for each vote cast on a statement this instance holds; it
  // must return quickly. Null and `error` set if the store cannot be reached.
  static std::unique_ptr<SharedApprovals> open(const Options& options,
                                               std::function<void(const Vote&)> on_vote,
                                               std::string* error);
  virtual ~SharedApprovals() = default;

  // Reads the requests of every instance, as list_approvals(); `done` runs on the thread of
  // SharedApprovals with them, or with an error.
  virtual void list(bool pending_only,
                    std::function<void(std::vector<ApprovalRow>, std::string error)> done) = 0;
  // What became of a vote: cast (error empty), refused (by `check`, or for an unknown or settled
  // request), or not cast because the store failed.
  struct Cast {
    std::string error;
    bool not_allowed = false;   // `check` refused it
    bool store_failed = false;  // the store could not be read or written
  };
  // Casts `vote` on the pending request `vote.approval_id`: `check` (run on the thread of
  // SharedApprovals) sees the request as it stands and returns why the vote is not allowed, or
  // nothing; `done` runs there too once the vote is cast and its holder told, or refused.
  virtual void cast(Vote vote, std::function<std::string(const ApprovalRow&)> check,
                    std::function<void(Cast)> done) = 0;
  // The records of statements this instance held in an earlier run that are still unsettled (its
  // process ended while they waited), read once at open: the caller settles them in its chain.
  virtual std::vector<int64_t> orphaned() const = 0;
};

}  // namespace pgw::store
