#include "ops/http_server.hpp"

#include "ops/listener.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <map>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

namespace hostsweep::ops {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Connection;

struct HttpServer::State {
  State(asio::any_io_executor ex, HttpEndpoints e, HttpLimits l) : listener(ex), endpoints(std::move(e)), limits(l) {}

  Listener<tcp, Connection> listener;
  HttpEndpoints endpoints;
  HttpLimits limits;
};

namespace {

using Response = http::response<http::string_body>;

Response reply(http::status status, unsigned version, std::string body, const char* type = "text/plain; charset=utf-8") {
  Response res{status, version};
  res.set(http::field::server, "hostsweep");
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

}  // namespace

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<HttpServer::State> state, std::uint64_t id)
      : stream_(std::move(socket)),
        // Room for the header and a little of a pipelined request; the parser's own header
        // limit is what refuses a big one.
        buffer_(state->limits.max_header_bytes + 1024),
        state_(std::move(state)),
        id_(id) {}
  ~Connection() { state_->listener.connections.erase(id_); }

  void start() { read(); }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();  // the socket and its deadline
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->limits.max_header_bytes));
    parser_->body_limit(0);  // GET only: a body is refused, never buffered
    stream_.expires_after(state_->limits.timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (state_->listener.stopped || ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec) {
      // A malformed or oversized request gets its answer, then the connection is closed.
      auto status = ec == http::error::header_limit || ec == http::error::buffer_overflow ? http::status::request_header_fields_too_large
                    : ec == http::error::body_limit ? http::status::payload_too_large
                                                    : http::status::bad_request;
      refused_ = true;
      return write(reply(status, 11, std::string(http::obsolete_reason(status)) + "\n"), false);
    }
    const auto& req = parser_->get();
    std::string_view target = req.target();
    target = target.substr(0, target.find('?'));
    Response res;
    if (req.method() != http::verb::get) {
      res = reply(http::status::method_not_allowed, req.version(), "only GET\n");
      res.set(http::field::allow, "GET");
    } else if (target == "/metrics") {
      try {
        res = reply(http::status::ok, req.version(), state_->endpoints.metrics(), "text/plain; version=0.0.4; charset=utf-8");
      } catch (const std::exception& e) {
        // A scrape never takes the loop down with it.
        res = reply(http::status::internal_server_error, req.version(), std::string(e.what()) + "\n");
      }
    } else if (target == "/healthz") {
      res = reply(http::status::ok, req.version(), "ok\n");
    } else if (target == "/readyz") {
      bool ready = state_->endpoints.ready();
      res = ready ? reply(http::status::ok, req.version(), "ready\n")
                  : reply(http::status::service_unavailable, req.version(), "not ready: the first sweep is not done\n");
    } else {
      res = reply(http::status::not_found, req.version(), "not found: /metrics, /healthz, /readyz\n");
    }
    write(std::move(res), req.keep_alive());
  }

  void write(Response res, bool keep_alive) {
    response_ = std::move(res);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    stream_.expires_after(state_->limits.timeout);
    http::async_write(stream_, response_, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      if (ec || self->state_->listener.stopped) return self->close();
      if (self->refused_) return self->linger();
      if (!keep_alive) return self->close();
      self->read();
    });
  }

  // After refusing a request whose rest is still coming (a huge header), closing at once would
  // reset the connection and could destroy the answer on its way: say we are done sending, and
  // read and discard what the client still sends, bounded in bytes and in time.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(state_->limits.timeout);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->state_->listener.stopped || self->drained_ > kMaxDrain) return self->close();
      self->drain();
    });
  }

  static constexpr std::size_t kMaxDrain = 1 << 20;

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  Response response_;
  bool refused_ = false;
  std::array<char, 4096> scratch_{};
  std::size_t drained_ = 0;
  std::shared_ptr<HttpServer::State> state_;
  std::uint64_t id_;
};

HttpServer::HttpServer(asio::any_io_executor executor, const ListenAddress& where, HttpEndpoints endpoints,
                       HttpLimits limits)
    : state_(std::make_shared<State>(executor, std::move(endpoints), limits)) {
  try {
    tcp::endpoint endpoint(asio::ip::make_address(where.host), where.port);
    auto& acceptor = state_->listener.acceptor;
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(fmt::format("metrics-listen {}: {}", where.to_string(), e.code().message()));
  }
}

HttpServer::~HttpServer() { stop(); }

ListenAddress HttpServer::local_address() const {
  boost::system::error_code ec;
  auto endpoint = state_->listener.acceptor.local_endpoint(ec);
  return {endpoint.address().to_string(), endpoint.port()};
}

void HttpServer::start() {
  state_->listener.stopped = false;
  accept_connections<Connection>(state_, state_->limits.max_connections, [](tcp::socket&) { return true; });
}

void HttpServer::stop() { state_->listener.stop(); }

std::size_t HttpServer::open_connections() const { return state_->listener.connections.size(); }

}  // namespace hostsweep::ops
