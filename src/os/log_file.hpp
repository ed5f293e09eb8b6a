#pragma once
// A container's log file, DATA_DIR/logs/<agent_group>/<session>.log, with size-capped
// rotation: before a line would take the file past `max_bytes`, <session>.log becomes
// <session>.log.1, .1 becomes .2 ... and the one past `keep` is removed; so the session's logs
// never hold more than max_bytes * (keep + 1) bytes plus one line.
//
// DATA_DIR/logs/ is the host's, outside every session directory a container can write. Still,
// nothing is followed there: each directory is opened (and created, mode 0700) with
// O_NOFOLLOW | O_DIRECTORY below DATA_DIR itself, the file is opened with O_NOFOLLOW relative
// to its directory's descriptor and must be a regular file with one link, and rotation renames
// within that descriptor. A symlink, fifo or hard link planted there is refused, never written
// through.
//
// Writes are buffered (append) and written with write(2) on flush(); a local file's write
// goes to the page cache, so a flush costs microseconds. A failing write (a full disk) drops
// what it could not write and is reported once by error().
//
// Thread-safety: a plain object; use from one thread at a time.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "os/unique_fd.hpp"

namespace hostsweep::os {

// DATA_DIR/logs/<group>/<session>.log (ids as the registry holds them: validated there).
std::filesystem::path container_log_path(const std::filesystem::path& data_root, std::string_view agent_group_id,
                                         std::string_view session_id);

class RotatingLogFile {
 public:
  // Opens (creating what is missing) the session's log for appending. Throws Error(io_error)
  // naming the path and why ("is a symlink: refused"); Error(invalid_argument) for a bad id.
  RotatingLogFile(const std::filesystem::path& data_root, std::string_view agent_group_id,
                  std::string_view session_id, std::uint64_t max_bytes, int keep);
  ~RotatingLogFile();
  RotatingLogFile(const RotatingLogFile&) = delete;
  RotatingLogFile& operator=(const RotatingLogFile&) = delete;

  // Queues one formatted line (its '\n' included), rotating first when it must.
  void append(std::string_view line);
  // Writes what is queued.
  void flush();

  const std::filesystem::path& path() const noexcept { return path_; }
  // The first write or rotation failure, "" while there was none.
  const std::string& error() const noexcept { return error_; }

 private:
  void rotate();
  void open_current();
  void fail(const std::string& what);

  std::filesystem::path path_;
  std::string name_;  // "<session>.log"
  UniqueFd dir_;
  UniqueFd file_;
  std::uint64_t max_bytes_;
  int keep_;
  std::uint64_t size_ = 0;  // of the current file, queued bytes included
  std::string queued_;
  std::string error_;
};

// Opens an existing log file (current or rotated) for reading, without following a link;
// -1 with errno when it cannot (ENOENT when it is not there, ELOOP for a symlink).
UniqueFd open_log_for_reading(const std::filesystem::path& file);

}  // namespace hostsweep::os
