#pragma once
// Internal: the seam between the session VFS (sqlite.cpp) and the fault injector
// (testing/store_faults.cpp, include/hostsweep/testing/store_faults.hpp). The VFS knows only
// that a hook may be installed and asks it before each injectable operation; what fails, and
// with which SQLite result code, is the injector's business. Not installed.
//
// Cost when no hook is installed: one relaxed atomic load per file the VFS opens, and the file
// is SQLite's own, unwrapped. Files opened while a hook is installed are wrapped for their whole
// life: they ask whichever hook is installed at each operation (none: they only forward).

namespace hostsweep::store::detail {

enum class FileOp {
  open,   // xOpen, before the file is opened
  read,   // xRead
  write,  // xWrite
  sync,   // xSync: what a COMMIT waits on
  lock,   // xLock, any level
};

// Called on SQLite's thread before `op` on the file at `path` (the name SQLite opens it by:
// the database's absolute path, or the journal's "<path>-journal"; "" for a temporary file).
// Returns the SQLite result code the operation is to return instead of running, or 0
// (SQLITE_OK) to let it run. Must be thread-safe and must not throw.
using FaultHook = int (*)(FileOp op, const char* path) noexcept;

// Installs `hook` for every file opened from now on (nullptr removes it). Any thread.
void set_fault_hook(FaultHook hook) noexcept;

}  // namespace hostsweep::store::detail
