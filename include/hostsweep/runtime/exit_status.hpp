#pragma once

#include <string>

namespace hostsweep::runtime {

// How a process ended.
struct ExitStatus {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it (exit_code is then -1)

  bool clean() const noexcept { return signal == 0 && exit_code == 0; }
  std::string describe() const;  // "exit code 3", "signal 9 (SIGKILL)"
};

}  // namespace hostsweep::runtime
