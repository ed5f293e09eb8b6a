#pragma once
// What the kernel says about a process, and signals that can only reach the process meant.
//
// A pid is a number the kernel reuses; a file can say anything. So a process is named here by
// its pid *and* its start time (/proc/PID/stat field 22, clock ticks after boot), which together
// never repeat, and it is signalled through a pidfd, which keeps naming the same process however
// long it is held (FAILURE-MODES.md 11). A pidfd is taken first and the start time checked after,
// so a pid reused between the two is caught by the check.
//
// Thread-safety: free functions are safe anywhere; a Pidfd is a plain owned fd.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "os/unique_fd.hpp"

namespace hostsweep::os {

struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;  // /proc/PID/stat field 22

  friend bool operator==(const ProcessIdentity&, const ProcessIdentity&) = default;
};

// The process's start time; nullopt when there is no such process (or /proc cannot tell).
std::optional<std::uint64_t> process_start_ticks(pid_t pid);

// The process's group; nullopt when there is no such process.
std::optional<pid_t> process_group_of(pid_t pid);

// The identity of a live process (its pid and start time); nullopt when it does not exist.
std::optional<ProcessIdentity> identify(pid_t pid);

// This process, as a holder record names its supervisor.
ProcessIdentity self_identity();

// False for the groups no signal of ours may ever reach: pid <= 1 (kill(-1) is every process
// on the host), this process's own pid and its own process group.
bool may_signal_group(pid_t pgid) noexcept;

class Pidfd {
 public:
  // pidfd_open(pid); nullopt when the process does not exist (or pidfds are unsupported).
  static std::optional<Pidfd> open(pid_t pid);
  // A pidfd for exactly `who`: opened, then the start time checked. nullopt, with the reason in
  // `why_not`, when the pid is gone or now names another process.
  static std::optional<Pidfd> open_verified(const ProcessIdentity& who, std::string& why_not);

  Pidfd(UniqueFd fd, pid_t pid) noexcept : fd_(std::move(fd)), pid_(pid) {}

  int fd() const noexcept { return fd_.get(); }
  pid_t pid() const noexcept { return pid_; }

  // pidfd_send_signal: reaches this process or nothing. False when it has already exited.
  bool send_signal(int signal) const noexcept;
  // True once the process has exited (the pidfd polls readable).
  bool exited() const noexcept;

 private:
  UniqueFd fd_;
  pid_t pid_ = 0;
};

}  // namespace hostsweep::os
