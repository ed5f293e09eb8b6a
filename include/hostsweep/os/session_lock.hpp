#pragma once
// At most one container per session, across processes (FAILURE-MODES.md 6): whoever runs a
// session's container holds an exclusive flock on the session's lock file for as long as the
// container lives. The kernel drops the lock when the holder dies, so a crashed holder never
// leaves a stale lock behind. Holding the lock is also what entitles the host to write
// outbound.db (PROTOCOL.md invariant 1): no one else can start a container meanwhile.
//
// Thread-safety: a SessionLock is a plain owned fd; use one object from one thread at a time.

#include <filesystem>
#include <optional>
#include <string>

#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::os {

// What the holder wrote into the lock file when it took the lock.
struct LockHolder {
  long pid = 0;                    // the container's process (and process group) id
  std::optional<TimePoint> since;  // when the container started
  long owner_pid = 0;              // the supervisor that started it (0: unknown)
};

class SessionLock {
 public:
  // Takes the lock without waiting. nullopt when another holder has it. Creates the lock
  // file if needed. Throws Error(io_error) when the file cannot be opened or locked.
  static std::optional<SessionLock> try_acquire(const std::filesystem::path& lock_file);

  // True when someone holds the lock right now (a probe: takes and releases it).
  static bool is_held(const std::filesystem::path& lock_file);

  // Reads what the current holder recorded; nullopt when the file is missing or unreadable.
  static std::optional<LockHolder> read_holder(const std::filesystem::path& lock_file);

  // Records the container holding the lock: its pid, its start, and the supervisor's pid.
  void record_holder(long pid, TimePoint since, long owner_pid = 0);

  SessionLock(SessionLock&& other) noexcept;
  SessionLock& operator=(SessionLock&& other) noexcept;
  SessionLock(const SessionLock&) = delete;
  SessionLock& operator=(const SessionLock&) = delete;
  ~SessionLock();

  int fd() const noexcept { return fd_; }

 private:
  explicit SessionLock(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace hostsweep::os
