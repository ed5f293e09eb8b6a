#pragma once
// One container's process: spawned in a process group of its own (so a kill reaches its
// grandchildren too), waited for asynchronously with Boost.Process v2 through a pidfd, and
// signalled as a group. The session lock's fd is handed down to it (as fd 3), so the lock stays
// held for as long as any process of the container lives, even if the supervisor itself dies.
//
// Thread-safety: use from the executor it was started on.

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace hostsweep::runtime {

// How a process ended.
struct ExitStatus {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it (exit_code is then -1)

  bool clean() const noexcept { return signal == 0 && exit_code == 0; }
  std::string describe() const;  // "exit code 3", "signal 9 (SIGKILL)"
};

class ChildProcess {
 public:
  // Starts argv[0] (looked up in PATH when it has no slash) with argv. `inherit_fd` (or -1)
  // stays open in the child. Returns nullptr and sets `error` when it cannot start.
  static std::unique_ptr<ChildProcess> start(boost::asio::any_io_executor executor, const std::vector<std::string>& argv,
                                             int inherit_fd, std::error_code& error);

  // Never kills: the owner decides. A pending async_wait completes with operation_canceled.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const noexcept { return pid_; }

  // Completes once, when the process exits, with how it ended; error_code is set only if the
  // wait itself failed (operation_canceled when this object is destroyed first).
  void async_wait(std::function<void(std::error_code, ExitStatus)> handler);

  // Sends `signal` to the whole process group. Harmless when the group is already gone.
  void signal_group(int signal) noexcept;

 private:
  struct Impl;
  explicit ChildProcess(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int pid_ = -1;
};

}  // namespace hostsweep::runtime
