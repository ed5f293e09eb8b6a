#pragma once
// What the daemon's servers (the HTTP endpoint, the control socket) share: accepting on the
// loop with a cap on open connections (more are closed at accept, so that the others keep their
// turn), a pause after an accept error (out of descriptors, most likely) instead of a busy loop,
// and a stop that closes the listener and every open connection.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>

namespace hostsweep::ops {

// Connection: made by accept_connections, closed by stop() through its close(); its destructor
// erases itself from `connections`.
template <typename Protocol, typename Connection>
struct Listener {
  explicit Listener(const boost::asio::any_io_executor& executor) : acceptor(executor), retry_timer(executor) {}

  typename Protocol::acceptor acceptor;
  boost::asio::steady_timer retry_timer;
  bool stopped = true;
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, std::weak_ptr<Connection>> connections;

  // Closes the listener and every open connection: closing cancels each one's read or write,
  // whose handler then lets it go.
  void stop() {
    if (stopped) return;
    stopped = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    retry_timer.cancel();
    auto open = connections;
    for (auto& [id, weak] : open) {
      if (auto c = weak.lock()) c->close();
    }
  }
};

// Accepts on `state->listener` until it stops. A connection beyond `max_connections`, or one
// `admit(socket)` refuses, is closed at once; each other becomes a
// Connection(socket, state, id), started.
template <typename Connection, typename State, typename Admit>
void accept_connections(const std::shared_ptr<State>& state, std::size_t max_connections, Admit admit) {
  auto& listener = state->listener;
  listener.acceptor.async_accept([state, max_connections, admit](const boost::system::error_code& ec, auto socket) {
    auto& l = state->listener;
    if (l.stopped || ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      l.retry_timer.expires_after(std::chrono::milliseconds(100));
      l.retry_timer.async_wait([state, max_connections, admit](const boost::system::error_code& e) {
        if (!e && !state->listener.stopped) accept_connections<Connection>(state, max_connections, admit);
      });
      return;
    }
    if (l.connections.size() >= max_connections || !admit(socket)) {
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      auto id = l.next_id++;
      auto connection = std::make_shared<Connection>(std::move(socket), state, id);
      l.connections[id] = connection;
      connection->start();
    }
    accept_connections<Connection>(state, max_connections, admit);
  });
}

}  // namespace hostsweep::ops
