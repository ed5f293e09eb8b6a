#pragma once
// At most one container per session, across processes (FAILURE-MODES.md 6): whoever runs a
// session's container, or writes its files, holds an exclusive lock on the session's lock file
// for as long as it does. The supervisor holds it on its own descriptor, from the start of a
// container until every process of it has ended and its cleanup is done, and never hands the
// descriptor to the container (FAILURE-MODES.md 12): nothing a container does with its own fds
// can release it. The lock file lives in the host's directory for the session
// (store::SessionFiles::lock(), under DATA_DIR/run/, mode 0700), where no container can delete,
// replace or write it.
//
// The lock is an open-file-description lock (fcntl F_OFD_SETLK): the kernel drops it when its
// holder dies, so a crashed holder never leaves a stale lock, and it can be tested without
// being taken (F_OFD_GETLK), so `status` and `explain` never disturb a holder.
//
// The same kind of lock, on DATA_DIR/run/supervisor.lock, makes one supervisor per data
// directory; its holder writes its pid into it (note()).
//
// Thread-safety: a SessionLock is a plain owned fd; use one object from one thread at a time.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "os/unique_fd.hpp"

namespace hostsweep::os {

// Creates `dir` and every missing parent with mode 0700. Throws Error(io_error) naming the
// path when it cannot, or when an existing component is not a directory of its own (a symlink).
void make_private_directories(const std::filesystem::path& dir);

class SessionLock {
 public:
  // Takes the lock without waiting; nullopt when another holder has it. Creates the file (and
  // its directory, 0700) when needed; never follows a symlink. Throws Error(io_error) when the
  // file cannot be opened or locked.
  static std::optional<SessionLock> try_acquire(const std::filesystem::path& lock_file);

  // True when someone holds the lock right now. Does not take it; a missing file is not held.
  static bool is_held(const std::filesystem::path& lock_file);

  // What the holder wrote with write_note(); empty when there is nothing (or no file).
  static std::string read_note(const std::filesystem::path& lock_file);

  // Replaces the file's contents (the holder's pid, for whoever finds the lock taken).
  void write_note(std::string_view text);

  int fd() const noexcept { return fd_.get(); }

 private:
  explicit SessionLock(UniqueFd fd) noexcept : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the lock
};

}  // namespace hostsweep::os
