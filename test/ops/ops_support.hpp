#pragma once
// Helpers for the operator-facing tests: a NOTIFY_SOCKET of the test's own, an HTTP GET over a
// plain socket, and the daemon spawned with extra environment variables.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "os/unique_fd.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

namespace hostsweep::testing {

// A unix datagram socket bound at `path` (or, starting with '@', in the abstract namespace).
class DatagramReceiver {
 public:
  explicit DatagramReceiver(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (!fd_ || path.size() >= sizeof(addr.sun_path)) throw std::runtime_error("notify socket");
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@') addr.sun_path[0] = '\0';
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? std::size_t{0} : std::size_t{1}));
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) throw std::runtime_error("bind notify socket");
  }

  // The next datagram, or none within `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    auto n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  os::UniqueFd fd_;
};

struct HttpReply {
  int status = 0;  // 0: no reply (connection refused, closed, or timed out)
  std::string headers;
  std::string body;
};

inline os::UniqueFd tcp_connect(const std::string& host, int port) {
  os::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  return fd;
}

// Everything the peer sends until it closes, or until `timeout` passes without a byte.
inline std::string read_until_closed(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) break;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

inline HttpReply parse_reply(const std::string& raw) {
  HttpReply r;
  auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  r.headers = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  return r;
}

// One request with `Connection: close`, the whole reply read.
inline HttpReply http_request(int port, const std::string& request, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto fd = tcp_connect("127.0.0.1", port);
  if (!fd) return {};
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return {};
  return parse_reply(read_until_closed(fd.get(), timeout));
}

inline HttpReply http_get(int port, const std::string& target) {
  return http_request(port, "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

// The value of `name` in a Prometheus exposition (`name{labels} value`, labels as written).
inline std::optional<double> metric_value(const std::string& exposition, const std::string& series) {
  std::size_t at = 0;
  while ((at = exposition.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || exposition[at - 1] == '\n') {
      auto end = exposition.find('\n', at);
      return std::stod(exposition.substr(at + series.size() + 1, end - at - series.size() - 1));
    }
    at += series.size();
  }
  return std::nullopt;
}

// `program args...` with stdout and stderr appended to `log`, and `extra_env` ("K=V") added.
inline pid_t spawn_with_env(const std::string& program, const std::vector<std::string>& args,
                            const std::filesystem::path& log, const std::vector<std::string>& extra_env) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<std::string> storage{program};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = extra_env;
  for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Runs a shell command line, returns its exit status and its combined output.
inline std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, ""};
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline bool have_program(const std::string& name) {
  return shell("command -v " + name + " >/dev/null").first == 0;
}

}  // namespace hostsweep::testing
