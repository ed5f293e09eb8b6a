#pragma once
// One container's first process: started with clone3 in a process group of its own (and, when
// given, straight into its cgroup: CLONE_INTO_CGROUP, so not even its first instruction runs
// outside), known by the pidfd the kernel returns at the spawn, and waited for through that
// pidfd on the caller's executor.
//
// Exit and reaping are two steps, on purpose: async_wait() completes when the process has
// exited but leaves it unreaped, so its pid — which is also its process group's id — cannot be
// reused by anyone until reap() (or the destructor). The owner signals the group in between,
// and a freed group id is never signalled (FAILURE-MODES.md 11).
//
// No descriptor of the supervisor's is inherited: the child gets /dev/null as stdin, as stdout
// and stderr the descriptors SpawnOptions names (a container's are the write ends of its
// output pipes: runtime/container_output.hpp) or else the supervisor's own, and nothing else.
//
// Thread-safety: use from the executor it was started on.

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "hostsweep/runtime/exit_status.hpp"

namespace hostsweep::runtime {

struct SpawnOptions {
  int cgroup_fd = -1;            // a cgroup v2 directory to start the child in, or -1
  std::optional<uid_t> uid;      // run as this user (setuid after setgid)
  std::optional<gid_t> gid;      // and group (supplementary groups dropped)
  int stdout_fd = -1;            // the child's fd 1, or -1 for the supervisor's stdout
  int stderr_fd = -1;            // the child's fd 2, or -1 for the supervisor's stderr
};

class ChildProcess {
 public:
  // Starts argv[0] (looked up in PATH when it has no slash) with argv. Returns nullptr and sets
  // `error` when it cannot start (the program is missing, the exec failed, the cgroup refused).
  static std::unique_ptr<ChildProcess> start(boost::asio::any_io_executor executor, const std::vector<std::string>& argv,
                                             const SpawnOptions& options, std::error_code& error);

  // Never kills: the owner decides. Reaps the process if it has already exited, so that no
  // zombie outlives its owner; a pending async_wait completes with operation_canceled.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const noexcept { return pid_; }

  // Completes once, when the process has exited, with how it ended; the process stays
  // unreaped. error_code is set only if the wait itself failed (operation_canceled when this
  // object is destroyed first).
  void async_wait(std::function<void(std::error_code, ExitStatus)> handler);

  // Sends `signal` to this process only (through its pidfd). Harmless once it has exited.
  void signal(int signal) noexcept;

  // Sends `signal` to its whole process group. Only before reap(): until then the group's id
  // cannot name anyone else. A no-op after reap().
  void signal_group(int signal) noexcept;

  // Collects the exited process; after this its pid may be reused. Idempotent.
  void reap() noexcept;

 private:
  struct Impl;
  explicit ChildProcess(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int pid_ = -1;
};

}  // namespace hostsweep::runtime
