#include "sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "fault_hook.hpp"

namespace hostsweep::store::detail {
namespace {

namespace fs = std::filesystem;

// SQLite's own busy_timeout sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries, so a reader that
// meets a container's commit (a millisecond or two) may sleep ten times longer than the commit
// took: an event path's latency. This one starts at 100 us and grows to 2 ms, and gives up after
// the same kBusyTimeoutMs in all.
int wait_while_busy(void* /*unused*/, int tries) {
  constexpr long kFirstUs = 100;
  constexpr long kLongestUs = 2000;
  constexpr int kGrowingTries = 5;  // 100, 200, 400, 800, 1600 us
  long waited_us = 0;
  long next_us = kFirstUs;
  if (tries < kGrowingTries) {
    waited_us = kFirstUs * ((1L << tries) - 1);
    next_us = kFirstUs << tries;
  } else {
    waited_us = kFirstUs * ((1L << kGrowingTries) - 1) + static_cast<long>(tries - kGrowingTries) * kLongestUs;
    next_us = kLongestUs;
  }
  if (waited_us >= kBusyTimeoutMs * 1000L) return 0;  // SQLITE_BUSY for the caller
  ::usleep(static_cast<useconds_t>(next_us));
  return 1;
}

// --- The session VFS --------------------------------------------------------------------------
//
// SQLite's default VFS, but for two things a file written by the container must not make it do.
//
// A hot journal may end with the name of a "super-journal" (SQLite's record of a transaction
// over several attached files). Rolling the journal back, SQLite reads that file and, when none
// of the journals it lists still points back at it, deletes it: a journal written by the
// container could name any host file, and a read-write open as root would delete it (measured
// with SQLite 3.40). A session file is never part of a multi-file transaction, so this VFS, the
// default one in every other respect, refuses to open any super-journal. refusal() rejects such
// a journal up front with a clear error; the VFS is what holds when one appears after that check.

thread_local bool t_refused_super_journal = false;  // for translate(): SQLite only says CANTOPEN

// The check before an open leaves a moment in which the container can put a fifo in place of
// the file: SQLite's read-only open(2) of it would then wait for a writer, forever, holding a
// database thread (and shutdown). While this VFS opens a file, the open(2) of SQLite's unix VFS
// is made non-blocking and must yield a regular file, checked with fstat on the very descriptor
// SQLite keeps. That call is replaced process-wide (the unix VFS has one table of system calls),
// once, by a function that changes nothing for any other caller: only this thread, only while
// the flag below is set.
thread_local bool t_opening_session_file = false;
using OpenCall = int (*)(const char*, int, int);
OpenCall g_next_open = nullptr;  // written once, before the replacement is installed

int open_regular_file(const char* path, int flags, int mode) {
  if (!t_opening_session_file) return g_next_open(path, flags, mode);
  int fd = g_next_open(path, flags | O_NONBLOCK, mode);
  if (fd < 0) return fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    errno = ENXIO;  // SQLite reports SQLITE_CANTOPEN; translate() says what the file is
    return -1;
  }
  return fd;
}

void install_open_regular_file(sqlite3_vfs* base) {
  if (base->iVersion < 3 || !base->xGetSystemCall || !base->xSetSystemCall) return;
  // void (*)(void) is SQLite's generic type for a system call; "open" is open(2)'s signature.
  g_next_open = reinterpret_cast<OpenCall>(base->xGetSystemCall(base, "open"));
  if (g_next_open) base->xSetSystemCall(base, "open", reinterpret_cast<sqlite3_syscall_ptr>(&open_regular_file));
}

sqlite3_vfs* base_of(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

// --- Fault injection (fault_hook.hpp) ----------------------------------------------------------
//
// While a hook is installed, each file this VFS opens is a FaultFile: SQLite's sqlite3_file
// header with methods of its own, then the base VFS's file, which every method forwards to.
// The base file starts kBaseFileOffset bytes in, so that the shim's szOsFile holds both; with
// no hook the base file is opened at offset 0 and those bytes go unused (no wrapper at all).

std::atomic<FaultHook> g_fault_hook{nullptr};

struct FaultFile {
  sqlite3_file header;  // first: SQLite sees this
  sqlite3_io_methods methods;  // the base's, with the forwarding functions below in place
  sqlite3_file* base;
  const char* path;  // SQLite keeps the name valid until xClose
};

constexpr std::size_t kBaseFileOffset = (sizeof(FaultFile) + alignof(std::max_align_t) - 1) /
                                        alignof(std::max_align_t) * alignof(std::max_align_t);

FaultFile* wrapper_of(sqlite3_file* file) { return reinterpret_cast<FaultFile*>(file); }
sqlite3_file* base_file(sqlite3_file* file) { return wrapper_of(file)->base; }
const sqlite3_io_methods* base_methods(sqlite3_file* file) { return wrapper_of(file)->base->pMethods; }

// The injected result for `op` on this file, or SQLITE_OK. The hook is looked up at each
// operation: one removed since the open leaves the file only forwarding.
int injected(sqlite3_file* file, FileOp op) {
  FaultHook hook = g_fault_hook.load(std::memory_order_relaxed);
  return hook ? hook(op, wrapper_of(file)->path) : SQLITE_OK;
}

int fault_close(sqlite3_file* file) { return base_methods(file)->xClose(base_file(file)); }
int fault_read(sqlite3_file* file, void* out, int n, sqlite3_int64 offset) {
  if (int rc = injected(file, FileOp::read); rc != SQLITE_OK) return rc;
  return base_methods(file)->xRead(base_file(file), out, n, offset);
}
int fault_write(sqlite3_file* file, const void* data, int n, sqlite3_int64 offset) {
  if (int rc = injected(file, FileOp::write); rc != SQLITE_OK) return rc;
  return base_methods(file)->xWrite(base_file(file), data, n, offset);
}
int fault_truncate(sqlite3_file* file, sqlite3_int64 size) { return base_methods(file)->xTruncate(base_file(file), size); }
int fault_sync(sqlite3_file* file, int flags) {
  if (int rc = injected(file, FileOp::sync); rc != SQLITE_OK) return rc;
  return base_methods(file)->xSync(base_file(file), flags);
}
int fault_file_size(sqlite3_file* file, sqlite3_int64* out) { return base_methods(file)->xFileSize(base_file(file), out); }
int fault_lock(sqlite3_file* file, int level) {
  if (int rc = injected(file, FileOp::lock); rc != SQLITE_OK) return rc;
  return base_methods(file)->xLock(base_file(file), level);
}
int fault_unlock(sqlite3_file* file, int level) { return base_methods(file)->xUnlock(base_file(file), level); }
int fault_check_reserved_lock(sqlite3_file* file, int* out) {
  return base_methods(file)->xCheckReservedLock(base_file(file), out);
}
int fault_file_control(sqlite3_file* file, int op, void* arg) {
  return base_methods(file)->xFileControl(base_file(file), op, arg);
}
int fault_sector_size(sqlite3_file* file) { return base_methods(file)->xSectorSize(base_file(file)); }
int fault_device_characteristics(sqlite3_file* file) {
  return base_methods(file)->xDeviceCharacteristics(base_file(file));
}
int fault_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return base_methods(file)->xShmMap(base_file(file), region, size, extend, out);
}
int fault_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  return base_methods(file)->xShmLock(base_file(file), offset, n, flags);
}
void fault_shm_barrier(sqlite3_file* file) { base_methods(file)->xShmBarrier(base_file(file)); }
int fault_shm_unmap(sqlite3_file* file, int delete_flag) { return base_methods(file)->xShmUnmap(base_file(file), delete_flag); }
int fault_fetch(sqlite3_file* file, sqlite3_int64 offset, int n, void** out) {
  return base_methods(file)->xFetch(base_file(file), offset, n, out);
}
int fault_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return base_methods(file)->xUnfetch(base_file(file), offset, page);
}

// The base's methods, each present one replaced by its forwarder: the same iVersion, and the
// same methods missing (SQLite tests shm and fetch methods for null).
sqlite3_io_methods forwarding(const sqlite3_io_methods& base) {
  sqlite3_io_methods m = base;
  auto take = [](auto& slot, auto forwarder) {
    if (slot) slot = forwarder;
  };
  take(m.xClose, &fault_close);
  take(m.xRead, &fault_read);
  take(m.xWrite, &fault_write);
  take(m.xTruncate, &fault_truncate);
  take(m.xSync, &fault_sync);
  take(m.xFileSize, &fault_file_size);
  take(m.xLock, &fault_lock);
  take(m.xUnlock, &fault_unlock);
  take(m.xCheckReservedLock, &fault_check_reserved_lock);
  take(m.xFileControl, &fault_file_control);
  take(m.xSectorSize, &fault_sector_size);
  take(m.xDeviceCharacteristics, &fault_device_characteristics);
  if (m.iVersion >= 2) {
    take(m.xShmMap, &fault_shm_map);
    take(m.xShmLock, &fault_shm_lock);
    take(m.xShmBarrier, &fault_shm_barrier);
    take(m.xShmUnmap, &fault_shm_unmap);
  }
  if (m.iVersion >= 3) {
    take(m.xFetch, &fault_fetch);
    take(m.xUnfetch, &fault_unfetch);
  }
  return m;
}

int open_base(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  t_opening_session_file = true;
  int rc = base_of(vfs)->xOpen(base_of(vfs), name, file, flags, out_flags);
  t_opening_session_file = false;
  return rc;
}

int open_wrapped(FaultHook hook, sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags,
                 int* out_flags) {
  // SQLite calls no method of a file whose pMethods is null, xClose included.
  file->pMethods = nullptr;
  if (int rc = hook(FileOp::open, name ? name : ""); rc != SQLITE_OK) return rc;
  auto* base = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kBaseFileOffset);
  base->pMethods = nullptr;
  int rc = open_base(vfs, name, base, flags, out_flags);
  if (rc != SQLITE_OK) {
    // A base that set its methods wants its xClose even after a failed open (SQLite's rule),
    // which SQLite no longer calls for it: the wrapper's are null.
    if (base->pMethods) base->pMethods->xClose(base);
    return rc;
  }
  auto* wrapper = wrapper_of(file);
  wrapper->methods = forwarding(*base->pMethods);
  wrapper->base = base;
  wrapper->path = name ? name : "";
  wrapper->header.pMethods = &wrapper->methods;
  return SQLITE_OK;
}

int vfs_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  if (flags & SQLITE_OPEN_SUPER_JOURNAL) {
    t_refused_super_journal = true;
    return SQLITE_CANTOPEN;
  }
  if (FaultHook hook = g_fault_hook.load(std::memory_order_relaxed)) {
    return open_wrapped(hook, vfs, name, file, flags, out_flags);
  }
  return open_base(vfs, name, file, flags, out_flags);
}
int vfs_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) { return base_of(vfs)->xDelete(base_of(vfs), name, sync_dir); }
int vfs_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return base_of(vfs)->xAccess(base_of(vfs), name, flags, out);
}
// The name made absolute, and nothing more. The unix VFS's own resolves a symlink in every
// directory above the file (an lstat per component, seven or more per open), and with
// SQLITE_OPEN_NOFOLLOW it then refuses a data directory that is reached through a symlink,
// which is the operator's choice to make. Those directories are the host's; the one name a
// container controls is the last, and that is refused as a symlink by refusal() and by the
// unix VFS's O_NOFOLLOW open. The journal's name follows from this one, in the same directory.
int vfs_full_pathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  if (n <= 0) return SQLITE_CANTOPEN;
  const std::size_t room = static_cast<std::size_t>(n);
  const std::size_t length = std::strlen(name);
  if (name[0] == '/') {
    if (length >= room) return SQLITE_CANTOPEN;
    std::memcpy(out, name, length + 1);
    return SQLITE_OK;
  }
  if (::getcwd(out, room) == nullptr) return base_of(vfs)->xFullPathname(base_of(vfs), name, n, out);
  const std::size_t dir = std::strlen(out);
  const bool slash = dir > 0 && out[dir - 1] == '/';
  if (dir + (slash ? 0 : 1) + length >= room) return SQLITE_CANTOPEN;
  if (!slash) out[dir] = '/';
  std::memcpy(out + dir + (slash ? 0 : 1), name, length + 1);
  return SQLITE_OK;
}
void* vfs_dl_open(sqlite3_vfs* vfs, const char* name) { return base_of(vfs)->xDlOpen(base_of(vfs), name); }
void vfs_dl_error(sqlite3_vfs* vfs, int n, char* out) { base_of(vfs)->xDlError(base_of(vfs), n, out); }
void (*vfs_dl_sym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return base_of(vfs)->xDlSym(base_of(vfs), handle, symbol);
}
void vfs_dl_close(sqlite3_vfs* vfs, void* handle) { base_of(vfs)->xDlClose(base_of(vfs), handle); }
int vfs_randomness(sqlite3_vfs* vfs, int n, char* out) { return base_of(vfs)->xRandomness(base_of(vfs), n, out); }
int vfs_sleep(sqlite3_vfs* vfs, int us) { return base_of(vfs)->xSleep(base_of(vfs), us); }
int vfs_current_time(sqlite3_vfs* vfs, double* out) { return base_of(vfs)->xCurrentTime(base_of(vfs), out); }
int vfs_get_last_error(sqlite3_vfs* vfs, int n, char* out) { return base_of(vfs)->xGetLastError(base_of(vfs), n, out); }
int vfs_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return base_of(vfs)->xCurrentTimeInt64(base_of(vfs), out);
}
int vfs_set_system_call(sqlite3_vfs* vfs, const char* name, sqlite3_syscall_ptr call) {
  return base_of(vfs)->xSetSystemCall(base_of(vfs), name, call);
}
sqlite3_syscall_ptr vfs_get_system_call(sqlite3_vfs* vfs, const char* name) {
  return base_of(vfs)->xGetSystemCall(base_of(vfs), name);
}
const char* vfs_next_system_call(sqlite3_vfs* vfs, const char* name) {
  return base_of(vfs)->xNextSystemCall(base_of(vfs), name);
}

// Registered once, on first use; never the process's default VFS.
const char* session_vfs() {
  static const char* const name = [] {
    static sqlite3_vfs shim{};
    sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
    if (base == nullptr) throw Error(Errc::io_error, "SQLite has no default VFS");
    shim.iVersion = base->iVersion < 3 ? base->iVersion : 3;
    // Room for a FaultFile before the base's file, should faults be injected (vfs_open).
    shim.szOsFile = static_cast<int>(kBaseFileOffset) + base->szOsFile;
    shim.mxPathname = base->mxPathname;
    shim.zName = "hostsweep-session";
    shim.pAppData = base;
    shim.xOpen = &vfs_open;
    shim.xDelete = &vfs_delete;
    shim.xAccess = &vfs_access;
    shim.xFullPathname = &vfs_full_pathname;
    shim.xDlOpen = base->xDlOpen ? &vfs_dl_open : nullptr;
    shim.xDlError = base->xDlError ? &vfs_dl_error : nullptr;
    shim.xDlSym = base->xDlSym ? &vfs_dl_sym : nullptr;
    shim.xDlClose = base->xDlClose ? &vfs_dl_close : nullptr;
    shim.xRandomness = &vfs_randomness;
    shim.xSleep = &vfs_sleep;
    shim.xCurrentTime = &vfs_current_time;
    shim.xGetLastError = base->xGetLastError ? &vfs_get_last_error : nullptr;
    if (shim.iVersion >= 2) shim.xCurrentTimeInt64 = base->xCurrentTimeInt64 ? &vfs_current_time_int64 : nullptr;
    if (shim.iVersion >= 3) {
      shim.xSetSystemCall = base->xSetSystemCall ? &vfs_set_system_call : nullptr;
      shim.xGetSystemCall = base->xGetSystemCall ? &vfs_get_system_call : nullptr;
      shim.xNextSystemCall = base->xNextSystemCall ? &vfs_next_system_call : nullptr;
    }
    install_open_regular_file(base);
    if (sqlite3_vfs_register(&shim, 0) != SQLITE_OK) throw Error(Errc::io_error, "cannot register SQLite's session VFS");
    return shim.zName;
  }();
  return name;
}

// --- The checks before an open ----------------------------------------------------------------

const char* kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symlink";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

// "300 MiB", "1.5 MiB", "4 KiB", "100 bytes".
std::string human_bytes(std::int64_t bytes) {
  constexpr std::int64_t kKiB = 1024;
  constexpr std::int64_t kMiB = 1024 * kKiB;
  if (bytes >= kMiB) {
    if (bytes % kMiB == 0) return fmt::format("{} MiB", bytes / kMiB);
    return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / static_cast<double>(kMiB));
  }
  if (bytes >= kKiB && bytes % kKiB == 0) return fmt::format("{} KiB", bytes / kKiB);
  return fmt::format("{} bytes", bytes);
}

// Whether rolling `journal` back would make SQLite open a super-journal: its first byte is not
// 0 (SQLite's test for a journal to roll back) and it ends with a super-journal record, which is
// a name, its 4-byte length, a 4-byte checksum and the 8 bytes of the journal magic (SQLite's
// file format, "the rollback journal"). Reads through its own O_NOFOLLOW descriptor; a file
// that cannot be read here is left to SQLite, whose open fails the same way.
bool names_super_journal(const std::string& journal) {
  static constexpr std::array<unsigned char, 8> kJournalMagic{0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
  int fd = ::open(journal.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  unsigned char first = 0;
  std::array<unsigned char, 16> tail{};
  bool read = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 16 && ::pread(fd, &first, 1, 0) == 1 &&
              ::pread(fd, tail.data(), tail.size(), st.st_size - 16) == static_cast<ssize_t>(tail.size());
  ::close(fd);
  if (!read || first == 0) return false;
  const std::uint32_t name_length = (std::uint32_t{tail[0]} << 24) | (std::uint32_t{tail[1]} << 16) |
                                    (std::uint32_t{tail[2]} << 8) | std::uint32_t{tail[3]};
  return name_length > 0 && static_cast<std::int64_t>(name_length) <= st.st_size - 16 &&
         std::memcmp(tail.data() + 8, kJournalMagic.data(), kJournalMagic.size()) == 0;
}

// SQLite opens these beside a database, by name: a journal (rolled back by the next writer),
// and in WAL mode the log and its shared-memory index.
constexpr std::array<const char*, 3> kCompanions{"-journal", "-wal", "-shm"};

}  // namespace

void set_fault_hook(FaultHook hook) noexcept { g_fault_hook.store(hook, std::memory_order_relaxed); }

Error over_cap(const fs::path& database, std::int64_t bytes, std::int64_t max_bytes) {
  return Error(Errc::corrupt_file, fmt::format("{} is {}, over the {} cap: not read", database.string(),
                                               human_bytes(bytes), human_bytes(max_bytes)));
}

std::optional<Error> refusal(const fs::path& database, Access access, std::optional<std::int64_t> max_bytes) {
  const std::string path = database.string();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Error(Errc::io_error, fmt::format("{}: {}", path, std::strerror(errno)));
    if (access != Access::create) return Error(Errc::not_found, fmt::format("{}: no such file", path));
  } else if (S_ISLNK(st.st_mode)) {
    return Error(Errc::corrupt_file, fmt::format("{} is a symlink: refused", path));
  } else if (!S_ISREG(st.st_mode)) {
    return Error(Errc::corrupt_file, fmt::format("{} is {}, not a database", path, kind_of(st.st_mode)));
  } else if (max_bytes && st.st_size > *max_bytes) {
    return over_cap(database, st.st_size, *max_bytes);
  }
  // SQLite reads (and rolls back through) these by name; a link could point anywhere.
  for (const char* suffix : kCompanions) {
    const std::string companion = path + suffix;
    struct stat cst {};
    if (::lstat(companion.c_str(), &cst) != 0) {
      if (errno == ENOENT) continue;
      return Error(Errc::io_error, fmt::format("{}: {}", companion, std::strerror(errno)));
    }
    if (S_ISLNK(cst.st_mode)) return Error(Errc::corrupt_file, fmt::format("{} is a symlink: refused", companion));
    if (!S_ISREG(cst.st_mode)) {
      return Error(Errc::corrupt_file, fmt::format("{} is {}, not a regular file: refused", companion, kind_of(cst.st_mode)));
    }
  }
  if (names_super_journal(path + "-journal")) {
    // Its name is not shown: it is the container's text.
    return Error(Errc::corrupt_file,
                 fmt::format("{}-journal names a super-journal, a file outside the session that rolling it back "
                             "would delete: refused (a session file is never part of a multi-file transaction)",
                             path));
  }
  return std::nullopt;
}

Error translate(const fs::path& path, const SQLite::Exception& e) {
  const bool refused_super_journal = std::exchange(t_refused_super_journal, false);
  if (e.getErrorCode() == SQLITE_CANTOPEN && refused_super_journal) {
    return Error(Errc::corrupt_file,
                 fmt::format("{}-journal names a super-journal, a file outside the session: refused", path.string()));
  }
  switch (e.getErrorCode()) {
    case SQLITE_NOTADB:
      return Error(Errc::corrupt_file, fmt::format("{}: not an SQLite database", path.string()));
    case SQLITE_CORRUPT:
      return Error(Errc::corrupt_file, fmt::format("{}: the database is corrupt ({})", path.string(), e.what()));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error(Errc::io_error,
                   fmt::format("{}: still locked by another process after {} ms", path.string(), kBusyTimeoutMs));
    case SQLITE_READONLY:
      if (e.getExtendedErrorCode() == SQLITE_READONLY_ROLLBACK) {
        return Error(Errc::io_error, fmt::format("{} has a hot journal (a writer died mid-transaction) that a read-only "
                                                 "connection cannot roll back",
                                                 path.string()));
      }
      return Error(Errc::io_error, fmt::format("{}: {}", path.string(), e.what()));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      // A file swapped after the check (a symlink, a directory): say which.
      if (auto why = refusal(path, Access::read_only)) return *why;
      if (e.getErrorCode() == SQLITE_CANTOPEN) {
        return Error(Errc::not_found, fmt::format("{}: cannot open ({})", path.string(), e.what()));
      }
      return Error(Errc::io_error, fmt::format("{}: {}", path.string(), e.what()));
    default:
      return Error(Errc::io_error, fmt::format("{}: {}", path.string(), e.what()));
  }
}

SQLite::Database open_unverified(const fs::path& path, Access access, std::optional<std::int64_t> max_bytes) {
  if (auto why = refusal(path, access, max_bytes)) throw *why;
  int flags = SQLite::OPEN_READONLY;
  if (access == Access::read_write) flags = SQLite::OPEN_READWRITE;
  if (access == Access::create) flags = SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE;
  return guarded(path, [&] {
    // NOFOLLOW: a database swapped for a symlink after the check is refused all the same.
    SQLite::Database db(path.string(), flags | SQLite::OPEN_NOFOLLOW, 0, session_vfs());
    sqlite3_busy_handler(db.getHandle(), &wait_while_busy, nullptr);
    return db;
  });
}

SQLite::Database open_database(const fs::path& path, Access access) {
  auto db = open_unverified(path, access);
  // Reading the schema is what makes SQLite notice a file that is not a database.
  guarded(path, [&] { db.exec("SELECT count(*) FROM sqlite_schema"); });
  return db;
}

bool table_exists(SQLite::Database& db, std::string_view table) {
  SQLite::Statement q(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?");
  q.bind(1, std::string(table));
  return q.executeStep();
}

}  // namespace hostsweep::store::detail
