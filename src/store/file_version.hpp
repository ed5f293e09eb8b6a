#pragma once
// Whether an SQLite file has changed since it was last read, without opening it with SQLite.
//
// In rollback-journal mode every transaction that changes a database increments the "file
// change counter" in its header (offset 24; SQLite's file format, section 1.3.8) before the
// lock is released; SQLite itself compares it to decide whether its page cache is still good.
// A pass that reads a file's version *before* reading its contents can later compare versions:
// equal means nothing was committed since (the contents it read are at least as new as the
// version). A file that cannot be judged this way (missing, not SQLite, in WAL mode, or with
// a journal beside it: a write in progress or a crash to roll back) has no version, and must
// be read in full.
//
// The status-change time (ctime) is in the version too: no one but the kernel sets it, so a
// file rewritten in place with its counter, size and mtime restored (utimensat) still differs.
// A version is *in doubt* when the file changed so shortly before the version was taken that a
// later change could leave its ctime as it was (timestamps come from a clock that ticks every
// few milliseconds, on some file systems every second), as git's "racily clean" index entries
// are: such a version must not let a later pass skip the file.

#include <cstdint>
#include <filesystem>
#include <optional>

namespace hostsweep::store {

struct FileVersion {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;  // a file replaced by another is another file
  std::int64_t size = 0;    // with the modification time: a file overwritten in place by
  std::int64_t modified_ns = 0;  // something other than SQLite (a restored copy) differs too
  std::int64_t status_changed_ns = 0;  // ctime
  std::uint32_t change_counter = 0;
  bool in_doubt = false;  // see above; not part of the version itself

  friend bool operator==(const FileVersion& a, const FileVersion& b) noexcept {
    return a.device == b.device && a.inode == b.inode && a.size == b.size && a.modified_ns == b.modified_ns &&
           a.status_changed_ns == b.status_changed_ns && a.change_counter == b.change_counter;
  }
};

// Whether a version whose ctime is `status_changed_ns`, taken when the kernel's coarse clock
// (CLOCK_REALTIME_COARSE, which stamps files) read `taken_ns` just before, is in doubt: the
// change came within a few ticks of that clock (20 ms) before, or, where the ctime shows no
// nanoseconds (a file system that keeps whole seconds), within 2 s; or after (the wall clock
// stepped back). Pure.
constexpr bool version_in_doubt(std::int64_t status_changed_ns, std::int64_t taken_ns) noexcept {
  const std::int64_t window = status_changed_ns % 1'000'000'000 == 0 ? 2'000'000'000 : 20'000'000;
  return status_changed_ns > taken_ns - window;
}

// Never throws; nullopt when the file has no trustworthy version (see above).
std::optional<FileVersion> read_file_version(const std::filesystem::path& database) noexcept;

}  // namespace hostsweep::store
