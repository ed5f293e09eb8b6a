#pragma once
// The daemon's HTTP endpoint (`--metrics-listen ADDR:PORT`), Boost.Beast on the daemon's own
// executor: `/metrics` (Prometheus text), `/healthz` (200 whenever the loop answers),
// `/readyz` (200 once the first sweep is done, 503 before and while stopping), 404 for any
// other path, 405 for any method but GET.
//
// A client cannot hold the daemon: a request's header is capped (`max_header_bytes`; a body
// is refused), each connection has one deadline for its request and reply (`timeout`, renewed
// per request on a kept-alive connection), and at most `max_connections` are open (more are
// closed at accept). Handlers run on the loop and must answer from memory.

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ops/listen_address.hpp"

namespace hostsweep::ops {

struct HttpLimits {
  std::size_t max_header_bytes = 8 * 1024;
  std::chrono::milliseconds timeout{5000};
  std::size_t max_connections = 32;
};

struct HttpEndpoints {
  std::function<std::string()> metrics;  // the exposition
  std::function<bool()> ready;           // /readyz
};

class HttpServer {
 public:
  // Binds and listens now: a bad or busy address throws std::runtime_error naming it.
  HttpServer(boost::asio::any_io_executor executor, const ListenAddress& where, HttpEndpoints endpoints,
             HttpLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The address actually bound (its port when 0 was asked for).
  ListenAddress local_address() const;

  void start();
  // Closes the listener and every open connection.
  void stop();

  std::size_t open_connections() const;

  struct State;  // the listener and its connections: shared with their handlers

 private:
  std::shared_ptr<State> state_;
};

}  // namespace hostsweep::ops
