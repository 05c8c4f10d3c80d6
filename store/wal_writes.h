// A SQLite VFS for the store's writing connection that writes a transaction's WAL frames with one
// system call instead of two per page. SQLite writes each frame as a 24-byte header and then the
// page, each with its own pwrite; an audit commit touches four or five pages, and those calls were
// the largest part of a commit's cost. This VFS gathers whole frames in memory and writes them out
// once the page of the commit frame is in, before SQLite publishes the commit in the WAL index;
// reads, syncs, truncations and size queries of the WAL write what is gathered first, and so does
// the memory barrier SQLite issues while publishing a commit, as a second guard. Readers (the
// checkpointer, `audit export`) therefore never see a commit whose frames are not in the file, and
// a crash loses only frames no commit covers. Everything else (locks, shared memory, the database
// file's I/O, syncs) is SQLite's own default VFS.
#pragma once

namespace pgw::store {

// The VFS's name for sqlite3_open_v2; registered (not as the default) on first use. nullptr if
// SQLite has no default VFS to build on, in which case callers open with the default.
const char* wal_writes_vfs();

}  // namespace pgw::store
