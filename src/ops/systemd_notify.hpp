#pragma once
// systemd's readiness protocol, without libsystemd: each notification is one datagram of
// `KEY=VALUE` lines to the unix socket named by NOTIFY_SOCKET (a path, or `@name` in the
// abstract namespace). READY=1, STATUS=..., STOPPING=1 and WATCHDOG=1 are all we send.
//
// The watchdog pings from a timer on the caller's executor, every half WATCHDOG_USEC: a loop
// that stalls stops them, and systemd restarts the daemon when WatchdogSec= runs out.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "os/unique_fd.hpp"

namespace hostsweep::ops {

class SystemdNotifier {
 public:
  // Off: notify() does nothing.
  SystemdNotifier() = default;
  // Sends to `socket_path` (`@name`: abstract). `watchdog`: how often systemd expects a ping.
  SystemdNotifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog);

  // From NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog is ours only when that pid
  // is absent or ours); the three are then removed from the environment so that no container
  // inherits them.
  static SystemdNotifier from_environment();

  bool enabled() const noexcept { return !path_.empty(); }
  std::optional<std::chrono::microseconds> watchdog_timeout() const noexcept { return watchdog_; }

  // One datagram; false (and nothing else) when it could not be sent: systemd's absence never
  // stops the daemon.
  bool notify(std::string_view state);

 private:
  std::string path_;
  std::optional<std::chrono::microseconds> watchdog_;
  os::UniqueFd fd_;
};

// Sends WATCHDOG=1 every `interval` from a timer on `executor` until stop().
class WatchdogPinger {
 public:
  WatchdogPinger(boost::asio::any_io_executor executor, SystemdNotifier& notifier, std::chrono::microseconds interval);
  void start();
  void stop();
  std::uint64_t pings() const noexcept { return pings_; }

 private:
  void arm();

  boost::asio::steady_timer timer_;
  SystemdNotifier& notifier_;
  std::chrono::microseconds interval_;
  bool stopped_ = false;
  std::uint64_t pings_ = 0;
};

}  // namespace hostsweep::ops
