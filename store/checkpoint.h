// WAL checkpoints off the committing thread. SQLite's automatic checkpoint runs inside the commit
// that crosses its threshold, copying the WAL back into the database (and syncing it) while every
// statement waiting for that commit waits too. The Checkpointer does that work on a thread of its
// own, with its own connection, when told that the WAL has grown.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>

namespace pgw::store {

class Checkpointer;

// Destroying a Checkpointer stops its thread (after a checkpoint in progress) and gives the
// writer connection back SQLite's automatic checkpoints.
struct CheckpointerStop {
  void operator()(Checkpointer* checkpointer) const;
};
using CheckpointerPtr = std::unique_ptr<Checkpointer, CheckpointerStop>;

// Turns off `db`'s automatic checkpoints and starts a thread that checkpoints the store at `path`
// whenever the WAL of `db` has grown by the threshold. nullptr and `error` set if the thread's
// connection cannot be opened. Destroy the Checkpointer before closing `db`, on a thread that
// does not commit on `db` meanwhile.
CheckpointerPtr start_checkpointer(sqlite3* db, const std::string& path, std::string* error);

}  // namespace pgw::store
