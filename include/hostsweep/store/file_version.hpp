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

#include <cstdint>
#include <filesystem>
#include <optional>

namespace hostsweep::store {

struct FileVersion {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;  // a file replaced by another is another file
  std::int64_t size = 0;    // with the modification time: a file overwritten in place by
  std::int64_t modified_ns = 0;  // something other than SQLite (a restored copy) differs too
  std::uint32_t change_counter = 0;

  friend bool operator==(const FileVersion&, const FileVersion&) = default;
};

// Never throws; nullopt when the file has no trustworthy version (see above).
std::optional<FileVersion> read_file_version(const std::filesystem::path& database) noexcept;

}  // namespace hostsweep::store
