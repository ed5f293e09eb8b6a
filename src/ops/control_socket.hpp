#pragma once
// The daemon's control socket (DATA_DIR/run/control.sock): a unix stream socket on the daemon's
// own executor, one request per line and one reply per line, for `hostsweep status` and the
// operator verbs to reach a live daemon. The lines' meaning is the caller's (cli/
// control_protocol.hpp); this is the transport: who may connect, and how little they can hold.
//
// Only the daemon's own user (or root) gets an answer: the socket is made 0600 inside the
// 0700 run directory, and each peer's uid is checked again (SO_PEERCRED) before anything is
// read. A client cannot hold the daemon: a request line is capped (`max_request_bytes`; a longer
// one gets an error reply and the connection is closed), each connection has one deadline per
// request and its reply (`timeout`), and at most `max_connections` are open (more are closed at
// accept). The handler runs on the loop and must answer from memory.

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hostsweep::ops {

struct ControlLimits {
  std::size_t max_request_bytes = 4096;
  std::chrono::milliseconds timeout{5000};
  std::size_t max_connections = 16;
};

class ControlServer {
 public:
  // The reply to one request line (without its '\n'); the reply's own '\n' is added.
  using Handler = std::function<std::string(std::string_view request)>;
  // `too_long`: the reply to a request over the limit (the connection is closed after it).
  // Binds and listens now, replacing a socket a dead daemon left at `path` (the caller holds the
  // data directory, so no live daemon owns it); anything else there, or a path too long for a
  // socket, throws std::runtime_error naming it.
  ControlServer(boost::asio::any_io_executor executor, std::filesystem::path path, Handler handler,
                std::string too_long, ControlLimits limits = {});
  // Stops, and removes the socket file.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  void start();
  // Closes the listener and every open connection.
  void stop();

  const std::filesystem::path& path() const noexcept;
  std::size_t open_connections() const;

  struct State;  // the listener and its connections: shared with their handlers

 private:
  std::shared_ptr<State> state_;
};

// A client's side, blocking, for the CLI: connects to `path`, sends `request` and a '\n', and
// returns the first reply line (without its '\n'). Every step is bounded by `timeout` in all, and
// the reply by `max_reply_bytes`. When no daemon answers (no socket, refused, a timeout, a reply
// cut short), nullopt and `why_not` says why in a few words.
std::optional<std::string> ask_control_socket(const std::filesystem::path& path, std::string_view request,
                                              std::chrono::milliseconds timeout, std::string& why_not,
                                              std::size_t max_reply_bytes = std::size_t{256} << 20);

}  // namespace hostsweep::ops
