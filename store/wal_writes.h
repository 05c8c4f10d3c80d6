// A SQLite VFS for the store's writing connection that writes a transaction's WAL frames with one
// system call instead of two per page. SQLite writes each frame as a 24-byte header and then the
// page, each with its own pwrite; an audit commit touches four or five pages, and those calls were
// the largest part of a commit's cost. This VFS gathers the WAL writes in memory and writes them
// out when SQLite is about to publish a commit in the WAL index (the memory barrier it issues
// between the two copies of the index header), and before any read, sync, truncation or size
// query of the WAL. Readers (the checkpointer, `audit export`) therefore never see a commit whose
// frames are not in the file, and a crash loses only frames no commit covered. Everything else
// (locks, shared memory, the database file's I/O, syncs) is SQLite's own default VFS.
#pragma once

namespace pgw::store {

// The VFS's name for sqlite3_open_v2; registered (not as the default) on first use. nullptr if
// SQLite has no default VFS to build on, in which case callers open with the default.
const char* wal_writes_vfs();

}  // namespace pgw::store
