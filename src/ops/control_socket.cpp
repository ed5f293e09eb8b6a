#include "ops/control_socket.hpp"

#include "ops/listener.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

namespace hostsweep::ops {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

class ControlConnection;

struct ControlServer::State {
  State(asio::any_io_executor ex, std::filesystem::path p, Handler h, std::string t, ControlLimits l)
      : listener(ex), path(std::move(p)), handler(std::move(h)), too_long(std::move(t)), limits(l) {}

  Listener<local, ControlConnection> listener;
  std::filesystem::path path;
  Handler handler;
  std::string too_long;
  ControlLimits limits;
};

namespace {

// Whether the peer runs as this process's user, or as root: SO_PEERCRED is what the kernel
// recorded at connect, which the peer cannot choose.
bool peer_may_use(local::socket& socket) {
  ucred cred{};
  socklen_t size = sizeof cred;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) return false;
  return cred.uid == 0 || cred.uid == ::geteuid();
}

}  // namespace

class ControlConnection : public std::enable_shared_from_this<ControlConnection> {
 public:
  ControlConnection(local::socket socket, std::shared_ptr<ControlServer::State> state, std::uint64_t id)
      : socket_(std::move(socket)), deadline_(socket_.get_executor()), state_(std::move(state)), id_(id) {}
  ~ControlConnection() { state_->listener.connections.erase(id_); }

  void start() { read(); }

  void close() {
    boost::system::error_code ec;
    deadline_.cancel();
    socket_.shutdown(local::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  // One deadline for a request and its reply: a client that sends nothing, or reads nothing,
  // is closed when it passes.
  void arm_deadline() {
    deadline_.expires_after(state_->limits.timeout);
    deadline_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->close();
    });
  }

  void read() {
    arm_deadline();
    // One byte more than the cap: the '\n' that ends a request of exactly the cap.
    asio::async_read_until(socket_, asio::dynamic_buffer(in_, state_->limits.max_request_bytes + 1), '\n',
                           [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                             self->on_read(ec, n);
                           });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (state_->listener.stopped) return close();
    if (ec == asio::error::not_found) {  // longer than the cap: answered, then closed
      refused_ = true;
      return write(state_->too_long);
    }
    if (ec) return close();  // end of stream, a reset, the deadline
    std::string_view line(in_.data(), n - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string reply;
    try {
      reply = state_->handler(line);
    } catch (const std::exception&) {
      return close();  // the handler answers every request itself; this is a broken one
    }
    in_.erase(0, n);
    write(std::move(reply));
  }

  void write(std::string reply) {
    out_ = std::move(reply);
    out_ += '\n';
    arm_deadline();
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
      if (ec || self->state_->listener.stopped) return self->close();
      if (self->refused_) return self->linger();
      self->read();
    });
  }

  // After refusing a request whose rest may still be coming, closing at once could reset the
  // connection under the reply: say we are done sending, and read and discard what the client
  // still sends, bounded in bytes and in time.
  void linger() {
    boost::system::error_code ec;
    socket_.shutdown(local::socket::shutdown_send, ec);
    arm_deadline();
    drain();
  }

  void drain() {
    socket_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->state_->listener.stopped || self->drained_ > kMaxDrain) return self->close();
      self->drain();
    });
  }

  static constexpr std::size_t kMaxDrain = 1 << 20;

  local::socket socket_;
  asio::steady_timer deadline_;
  std::string in_;
  std::string out_;
  bool refused_ = false;
  std::array<char, 4096> scratch_{};
  std::size_t drained_ = 0;
  std::shared_ptr<ControlServer::State> state_;
  std::uint64_t id_;
};

namespace {

// A socket a dead daemon left is replaced; anything else at the path is not ours to remove.
void remove_stale_socket(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw std::runtime_error(fmt::format("control socket {}: {}", path.string(), std::strerror(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error(fmt::format("control socket {}: something else is there (not a socket): not replaced", path.string()));
  }
  ::unlink(path.c_str());
}

}  // namespace

ControlServer::ControlServer(asio::any_io_executor executor, std::filesystem::path path, Handler handler,
                             std::string too_long, ControlLimits limits)
    : state_(std::make_shared<State>(executor, std::move(path), std::move(handler), std::move(too_long), limits)) {
  const auto& where = state_->path;
  if (where.native().size() >= sizeof(sockaddr_un::sun_path)) {
    throw std::runtime_error(fmt::format("control socket {}: the path is longer than a unix socket's {} bytes", where.string(),
                                         sizeof(sockaddr_un::sun_path) - 1));
  }
  remove_stale_socket(where);
  try {
    local::endpoint endpoint(where.string());
    auto& acceptor = state_->listener.acceptor;
    acceptor.open(endpoint.protocol());
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(fmt::format("control socket {}: {}", where.string(), e.code().message()));
  }
  // Owner only (the run directory around it is 0700 already): the peer check is the second lock.
  if (::chmod(where.c_str(), 0600) != 0) {
    const int err = errno;
    ::unlink(where.c_str());
    throw std::runtime_error(fmt::format("control socket {}: {}", where.string(), std::strerror(err)));
  }
}

ControlServer::~ControlServer() {
  stop();
  ::unlink(state_->path.c_str());
}

void ControlServer::start() {
  state_->listener.stopped = false;
  accept_connections<ControlConnection>(state_, state_->limits.max_connections, peer_may_use);
}

void ControlServer::stop() { state_->listener.stop(); }

const std::filesystem::path& ControlServer::path() const noexcept { return state_->path; }

std::size_t ControlServer::open_connections() const { return state_->listener.connections.size(); }

// --- the client -------------------------------------------------------------------------------

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Waits for `events` on `fd` until `deadline`; false when it passed.
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

}  // namespace

std::optional<std::string> ask_control_socket(const std::filesystem::path& path, std::string_view request,
                                              std::chrono::milliseconds timeout, std::string& why_not,
                                              std::size_t max_reply_bytes) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof addr.sun_path) {
    why_not = "its path is too long for a unix socket";
    return std::nullopt;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.native().size());
  Fd sock{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (sock.fd < 0) {
    why_not = std::strerror(errno);
    return std::nullopt;
  }
  if (::connect(sock.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    // EAGAIN: its backlog is full; a busy daemon is no daemon for this purpose.
    why_not = errno == ENOENT ? "no socket" : errno == ECONNREFUSED ? "nothing listens (a daemon that ended)" : std::strerror(errno);
    return std::nullopt;
  }
  std::string out(request);
  out += '\n';
  std::size_t sent = 0;
  while (sent < out.size()) {
    if (!wait_for(sock.fd, POLLOUT, deadline)) {
      why_not = "it did not take the request in time";
      return std::nullopt;
    }
    ssize_t n = ::send(sock.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      why_not = std::strerror(errno);
      return std::nullopt;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  std::array<char, 65536> chunk{};
  std::size_t scanned = 0;  // no '\n' before this
  for (;;) {
    if (auto end = reply.find('\n', scanned); end != std::string::npos) {
      reply.resize(end);
      return reply;
    }
    scanned = reply.size();
    if (reply.size() > max_reply_bytes) {
      why_not = "its reply is too long";
      return std::nullopt;
    }
    if (!wait_for(sock.fd, POLLIN, deadline)) {
      why_not = "no reply in time";
      return std::nullopt;
    }
    ssize_t n = ::recv(sock.fd, chunk.data(), chunk.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      why_not = n == 0 ? "it closed the connection without a reply" : std::strerror(errno);
      return std::nullopt;
    }
    reply.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

}  // namespace hostsweep::ops
