#include "store/wal_writes.h"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <vector>

namespace pgw::store {
namespace {

// The WAL file format (sqlite.org/fileformat2.html#walformat): a frame is a 24-byte header and a
// page; bytes 4-7 of the header (big-endian) are non-zero only in the frame that commits.
constexpr int kFrameHeaderBytes = 24;
// Frames gathered beyond this are written at once: the frames of a large transaction may reach
// the file before its commit (readers and recovery ignore frames no commit covers).
constexpr size_t kMaxGathered = 4 << 20;
// Most bytes passed in one write: the unix VFS writes at most 128 KiB - 1 per call.
constexpr size_t kMaxWrite = 64 << 10;
// Room for what can be gathered before a write-out (SQLite's pages are at most 64 KiB), reserved
// when the WAL is opened so that gathering never allocates.
constexpr size_t kGatherCapacity = kMaxGathered + kFrameHeaderBytes + (64 << 10);

sqlite3_vfs* g_base = nullptr;  // the default VFS this one builds on
sqlite3_vfs g_vfs;

struct WalFile;

// A database file opened through this VFS: SQLite's own file, and the WAL whose writes must be
// in the file before a commit is published in this file's shared memory.
struct DbFile {
  sqlite3_file base;  // first: what SQLite sees
  sqlite3_file* file;
  sqlite3_filename name;
  WalFile* wal = nullptr;
};

// A WAL file opened through this VFS, with the writes gathered since the last write-out.
struct WalFile {
  sqlite3_file base;  // first: what SQLite sees
  sqlite3_file* file;
  DbFile* db = nullptr;
  std::vector<char> gathered;
  sqlite3_int64 gathered_at = 0;  // file offset of gathered[0]
  bool after_header = false;      // the last write was a frame header, gathered
  bool commit_header = false;     // and it marks a commit
  bool failed = false;            // a write-out at a barrier failed: every later write fails
};

// Where SQLite's own file starts in a file opened through this VFS.
constexpr size_t kWrapperBytes = (std::max(sizeof(DbFile), sizeof(WalFile)) + 15) / 16 * 16;

// Database files open through this VFS, for their WAL to find them by name.
std::mutex g_open_mu;
std::vector<DbFile*> g_open_dbs;

template <typename File>
File* as(sqlite3_file* f) {
  return reinterpret_cast<File*>(f);
}
template <typename File>
const sqlite3_io_methods* io(sqlite3_file* f) {
  return as<File>(f)->file->pMethods;
}
template <typename File>
sqlite3_file* inner(sqlite3_file* f) {
  return as<File>(f)->file;
}

// Writes what is gathered, in pieces SQLite's unix VFS accepts in one call. On failure it is
// dropped: those frames belong to a transaction that SQLite rolls back on the error.
int write_gathered(WalFile* w) {
  int rc = SQLITE_OK;
  for (size_t done = 0; rc == SQLITE_OK && done < w->gathered.size(); done += kMaxWrite) {
    size_t n = std::min(kMaxWrite, w->gathered.size() - done);
    rc = w->file->pMethods->xWrite(w->file, w->gathered.data() + done, static_cast<int>(n),
                                   w->gathered_at + static_cast<sqlite3_int64>(done));
  }
  w->gathered.clear();
  return rc;
}

bool is_commit_header(const void* header) {
  const auto* b = static_cast<const unsigned char*>(header);
  return (b[4] | b[5] | b[6] | b[7]) != 0;
}

// Gathers whole frames (a header, then the page written right after it) and writes them out once
// the page of a commit frame is in: SQLite publishes the commit next. Any other write (the WAL
// header, a page rewritten in place, a write split at a sync point) goes out as it comes.
int wal_write(sqlite3_file* f, const void* data, int n, sqlite3_int64 offset) {
  WalFile* w = as<WalFile>(f);
  if (w->failed) return SQLITE_IOERR_WRITE;
  bool follows = offset == w->gathered_at + static_cast<sqlite3_int64>(w->gathered.size());
  bool page = w->after_header && follows && n != kFrameHeaderBytes;
  if (n != kFrameHeaderBytes && !page) {
    w->after_header = false;
    int rc = write_gathered(w);
    return rc != SQLITE_OK ? rc : io<WalFile>(f)->xWrite(inner<WalFile>(f), data, n, offset);
  }
  if (!follows) {
    if (int rc = write_gathered(w); rc != SQLITE_OK) return rc;
  }
  if (w->gathered.empty()) w->gathered_at = offset;
  const char* bytes = static_cast<const char*>(data);
  w->gathered.insert(w->gathered.end(), bytes, bytes + n);
  if (!page) {
    w->after_header = true;
    w->commit_header = is_commit_header(data);
    return SQLITE_OK;
  }
  w->after_header = false;
  bool whole = w->commit_header || w->gathered.size() >= kMaxGathered;
  return whole ? write_gathered(w) : SQLITE_OK;
}

int wal_close(sqlite3_file* f) {
  WalFile* w = as<WalFile>(f);
  write_gathered(w);
  {
    std::lock_guard lock(g_open_mu);
    if (w->db != nullptr) w->db->wal = nullptr;
  }
  int rc = w->file->pMethods->xClose(w->file);
  w->~WalFile();
  return rc;
}

// The calls that look at the WAL see it as SQLite wrote it: what is gathered is written first.
int wal_read(sqlite3_file* f, void* data, int n, sqlite3_int64 offset) {
  int rc = write_gathered(as<WalFile>(f));
  return rc != SQLITE_OK ? rc : io<WalFile>(f)->xRead(inner<WalFile>(f), data, n, offset);
}
int wal_truncate(sqlite3_file* f, sqlite3_int64 size) {
  int rc = write_gathered(as<WalFile>(f));
  return rc != SQLITE_OK ? rc : io<WalFile>(f)->xTruncate(inner<WalFile>(f), size);
}
int wal_sync(sqlite3_file* f, int flags) {
  int rc = write_gathered(as<WalFile>(f));
  return rc != SQLITE_OK ? rc : io<WalFile>(f)->xSync(inner<WalFile>(f), flags);
}
int wal_file_size(sqlite3_file* f, sqlite3_int64* size) {
  int rc = write_gathered(as<WalFile>(f));
  return rc != SQLITE_OK ? rc : io<WalFile>(f)->xFileSize(inner<WalFile>(f), size);
}
int wal_file_control(sqlite3_file* f, int op, void* arg) {
  int rc = write_gathered(as<WalFile>(f));
  return rc != SQLITE_OK ? rc : io<WalFile>(f)->xFileControl(inner<WalFile>(f), op, arg);
}

// SQLite issues this barrier between writing the two copies of the WAL index header, the moment
// a commit becomes visible to readers: the WAL's frames must be in the file by then. Commits
// normally wrote theirs at their commit frame; this covers the frames of a transaction whose
// headers SQLite rewrote after its commit frame (only when pages spilled, which the store turns
// off). A failure here cannot be reported to SQLite, so the WAL refuses every later write.
void db_shm_barrier(sqlite3_file* f) {
  if (WalFile* w = as<DbFile>(f)->wal) {
    if (write_gathered(w) != SQLITE_OK) w->failed = true;
  }
  io<DbFile>(f)->xShmBarrier(inner<DbFile>(f));
}

int db_close(sqlite3_file* f) {
  DbFile* d = as<DbFile>(f);
  {
    std::lock_guard lock(g_open_mu);
    std::erase(g_open_dbs, d);
    if (d->wal != nullptr) d->wal->db = nullptr;
  }
  int rc = d->file->pMethods->xClose(d->file);
  d->~DbFile();
  return rc;
}

// Calls passed on unchanged to SQLite's own file.
template <typename File>
struct Pass {
  static int read(sqlite3_file* f, void* data, int n, sqlite3_int64 offset) {
    return io<File>(f)->xRead(inner<File>(f), data, n, offset);
  }
  static int write(sqlite3_file* f, const void* data, int n, sqlite3_int64 offset) {
    return io<File>(f)->xWrite(inner<File>(f), data, n, offset);
  }
  static int truncate(sqlite3_file* f, sqlite3_int64 size) {
    return io<File>(f)->xTruncate(inner<File>(f), size);
  }
  static int sync(sqlite3_file* f, int flags) { return io<File>(f)->xSync(inner<File>(f), flags); }
  static int file_size(sqlite3_file* f, sqlite3_int64* size) {
    return io<File>(f)->xFileSize(inner<File>(f), size);
  }
  static int lock(sqlite3_file* f, int level) { return io<File>(f)->xLock(inner<File>(f), level); }
  static int unlock(sqlite3_file* f, int level) {
    return io<File>(f)->xUnlock(inner<File>(f), level);
  }
  static int check_reserved(sqlite3_file* f, int* out) {
    return io<File>(f)->xCheckReservedLock(inner<File>(f), out);
  }
  static int file_control(sqlite3_file* f, int op, void* arg) {
    return io<File>(f)->xFileControl(inner<File>(f), op, arg);
  }
  static int sector_size(sqlite3_file* f) { return io<File>(f)->xSectorSize(inner<File>(f)); }
  static int device(sqlite3_file* f) { return io<File>(f)->xDeviceCharacteristics(inner<File>(f)); }
  static int shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
    return io<File>(f)->xShmMap(inner<File>(f), page, size, extend, out);
  }
  static int shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    return io<File>(f)->xShmLock(inner<File>(f), offset, n, flags);
  }
  static int shm_unmap(sqlite3_file* f, int delete_flag) {
    return io<File>(f)->xShmUnmap(inner<File>(f), delete_flag);
  }
  static int fetch(sqlite3_file* f, sqlite3_int64 offset, int n, void** out) {
    return io<File>(f)->xFetch(inner<File>(f), offset, n, out);
  }
  static int unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
    return io<File>(f)->xUnfetch(inner<File>(f), offset, p);
  }
};

using PassDb = Pass<DbFile>;
using PassWal = Pass<WalFile>;

// The database file's methods: the default VFS's, but for the barrier that publishes a commit.
// Used only over a file whose own methods are version 3 (checked at open).
const sqlite3_io_methods kDbMethods = {
    3,
    db_close,
    PassDb::read,
    PassDb::write,
    PassDb::truncate,
    PassDb::sync,
    PassDb::file_size,
    PassDb::lock,
    PassDb::unlock,
    PassDb::check_reserved,
    PassDb::file_control,
    PassDb::sector_size,
    PassDb::device,
    PassDb::shm_map,
    PassDb::shm_lock,
    db_shm_barrier,
    PassDb::shm_unmap,
    PassDb::fetch,
    PassDb::unfetch,
};

// A WAL file has no shared memory or memory map of its own (those belong to the database file),
// so SQLite calls only version 1 methods on it.
const sqlite3_io_methods kWalMethods = {
    1,
    wal_close,
    wal_read,
    wal_write,
    wal_truncate,
    wal_sync,
    wal_file_size,
    PassWal::lock,
    PassWal::unlock,
    PassWal::check_reserved,
    wal_file_control,
    PassWal::sector_size,
    PassWal::device,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

// Opens `f` as a File wrapping the default VFS's file (placed just after it); SQLite's error
// and no methods if that file cannot be opened.
template <typename File>
int open_wrapped(sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags,
                 File** out) {
  auto* w = new (f) File{};
  w->file = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kWrapperBytes);
  w->file->pMethods = nullptr;
  int rc = g_base->xOpen(g_base, name, w->file, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (w->file->pMethods != nullptr) w->file->pMethods->xClose(w->file);
    w->~File();
    f->pMethods = nullptr;
    return rc;
  }
  *out = w;
  return SQLITE_OK;
}

int open_db_file(sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  DbFile* d = nullptr;
  if (int rc = open_wrapped(name, f, flags, out_flags, &d); rc != SQLITE_OK) return rc;
  if (d->file->pMethods->iVersion < 3) {
    // Nothing to publish through without shared memory: the file is SQLite's own.
    d->file->pMethods->xClose(d->file);
    d->~DbFile();
    f->pMethods = nullptr;
    return g_base->xOpen(g_base, name, f, flags, out_flags);
  }
  d->name = name;
  d->base.pMethods = &kDbMethods;
  std::lock_guard lock(g_open_mu);
  g_open_dbs.push_back(d);
  return SQLITE_OK;
}

int open_wal_file(sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  std::lock_guard lock(g_open_mu);
  sqlite3_filename db_name = sqlite3_filename_database(name);
  auto it = std::find_if(g_open_dbs.begin(), g_open_dbs.end(),
                         [db_name](DbFile* d) { return d->name == db_name; });
  // A WAL whose database file is not ours is written as SQLite writes it.
  if (it == g_open_dbs.end() || (*it)->wal != nullptr) {
    return g_base->xOpen(g_base, name, f, flags, out_flags);
  }
  WalFile* w = nullptr;
  if (int rc = open_wrapped(name, f, flags, out_flags, &w); rc != SQLITE_OK) return rc;
  try {
    w->gathered.reserve(kGatherCapacity);
  } catch (const std::bad_alloc&) {
    w->file->pMethods->xClose(w->file);
    w->~WalFile();
    f->pMethods = nullptr;
    return SQLITE_NOMEM;
  }
  w->db = *it;
  (*it)->wal = w;
  w->base.pMethods = &kWalMethods;
  return SQLITE_OK;
}

int vfs_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  if (flags & SQLITE_OPEN_MAIN_DB) return open_db_file(name, f, flags, out_flags);
  if (flags & SQLITE_OPEN_WAL) return open_wal_file(name, f, flags, out_flags);
  return g_base->xOpen(g_base, name, f, flags, out_flags);
}

void register_vfs() {
  g_base = sqlite3_vfs_find(nullptr);
  if (g_base == nullptr) return;
  g_vfs = *g_base;
  g_vfs.szOsFile = static_cast<int>(kWrapperBytes) + g_base->szOsFile;
  g_vfs.pNext = nullptr;
  g_vfs.zName = "pgwarden-wal-writes";
  g_vfs.xOpen = vfs_open;
  if (sqlite3_vfs_register(&g_vfs, 0) != SQLITE_OK) g_base = nullptr;
}

}  // namespace

const char* wal_writes_vfs() {
  static std::once_flag once;
  std::call_once(once, register_vfs);
  return g_base != nullptr ? g_vfs.zName : nullptr;
}

}  // namespace pgw::store
