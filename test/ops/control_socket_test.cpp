// The control socket's transport in-process: requests and replies a line each, who may connect,
// and that a silent, oversized or crowding client is cut off while others are still answered.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <fstream>
#include <thread>

#include "ops/control_socket.hpp"
#include "ops/ops_support.hpp"
#include "support/run_program.hpp"

namespace hostsweep::ops {
namespace {

using namespace std::chrono_literals;

// A connected client socket, or an invalid one.
os::UniqueFd unix_connect(const std::filesystem::path& path) {
  os::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.native().size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  return fd;
}

// What the peer sends before it closes the connection; nullopt when it has not closed it
// within `timeout` of silence.
std::optional<std::string> until_closed(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return out;
    if (n < 0) return errno == ECONNRESET ? std::optional<std::string>(out) : std::nullopt;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

void send_all(int fd, std::string_view text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

class Control : public ::testing::Test {
 protected:
  void serve(ControlLimits limits = {}) {
    server_.emplace(
        io_.get_executor(), path_,
        [this](std::string_view request) {
          ++requests_;
          return "echo:" + std::string(request);
        },
        "too long", limits);
    server_->start();
    loop_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (!server_) return;
    boost::asio::post(io_, [this] { server_->stop(); });
    loop_.join();  // the loop ends only once every connection is gone
    server_.reset();
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path_))) << "the socket file is removed";
  }
  std::optional<std::string> ask(std::string_view request, std::chrono::milliseconds timeout = 10s) {
    return ask_control_socket(path_, request, timeout, why_);
  }

  testing::TempDir tmp_;
  std::filesystem::path path_ = tmp_.path() / "control.sock";
  boost::asio::io_context io_;
  std::optional<ControlServer> server_;
  std::thread loop_;
  std::atomic<int> requests_{0};
  std::string why_;
};

TEST_F(Control, ARequestGetsItsReplyAndTheSocketIsTheOwnersOnly) {
  serve();
  EXPECT_EQ(ask("{\"op\":\"status\"}"), "echo:{\"op\":\"status\"}");
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(Control, SeveralRequestsOnOneConnectionEachGetTheirLine) {
  serve();
  auto fd = unix_connect(path_);
  ASSERT_TRUE(fd);
  send_all(fd.get(), "one\ntwo\r\nthree\n");
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::count(got.begin(), got.end(), '\n') < 3 && std::chrono::steady_clock::now() < deadline) {
    char buf[256];
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) continue;
    auto n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got, "echo:one\necho:two\necho:three\n");
}

TEST_F(Control, AnOversizedRequestIsRefusedWithItsReplyAndClosed) {
  serve({.max_request_bytes = 64});
  EXPECT_EQ(ask(std::string(64, 'x')), "echo:" + std::string(64, 'x')) << "exactly the cap is fine";
  auto fd = unix_connect(path_);
  ASSERT_TRUE(fd);
  send_all(fd.get(), std::string(100'000, 'y'));  // no newline, far over the cap
  EXPECT_EQ(until_closed(fd.get(), 10s), "too long\n");
  EXPECT_EQ(requests_, 1) << "the handler never saw it";
}

TEST_F(Control, ASilentClientIsClosedAtTheDeadlineAndOthersAreAnswered) {
  serve({.timeout = 300ms});
  auto silent = unix_connect(path_);
  ASSERT_TRUE(silent);
  EXPECT_EQ(ask("hello"), "echo:hello");
  EXPECT_EQ(until_closed(silent.get(), 10s), "") << "closed with nothing said";
}

TEST_F(Control, ConnectionsOverTheLimitAreClosedAtOnce) {
  serve({.max_connections = 2});
  auto a = unix_connect(path_);
  auto b = unix_connect(path_);
  ASSERT_TRUE(a && b);
  // Both are accepted (each answers), then a third is turned away without a reply.
  send_all(a.get(), "a\n");
  send_all(b.get(), "b\n");
  ASSERT_TRUE(testing::eventually([&] { return requests_ == 2; }));
  EXPECT_FALSE(ask("c"));
  a.reset();
  b.reset();
  EXPECT_TRUE(testing::eventually([&] { return ask("d").has_value(); })) << "room again once they are gone";
}

TEST_F(Control, APeerOfAnotherUserIsNotAnswered) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to be another user";
  serve();
  // Let anyone reach the socket, so that only the peer check stands in the way.
  ASSERT_EQ(::chmod(tmp_.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(3);
    std::string why;
    auto reply = ask_control_socket(path_, "hello", 5s, why);
    ::_exit(reply ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: answered; 3: could not become nobody";
  EXPECT_EQ(requests_, 0);
  EXPECT_EQ(ask("mine"), "echo:mine");
}

// A socket file nobody listens on, as a SIGKILLed daemon leaves it.
void leave_stale_socket(const std::filesystem::path& path) {
  os::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.native().size());
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
}

TEST_F(Control, AStaleSocketIsReplacedAndAnythingElseIsLeftAlone) {
  leave_stale_socket(path_);
  ASSERT_FALSE(ask("x"));
  EXPECT_EQ(why_, "nothing listens (a daemon that ended)");
  serve();
  EXPECT_EQ(ask("x"), "echo:x");

  std::filesystem::path file = tmp_.path() / "file";
  std::ofstream(file) << "not a socket";
  boost::asio::io_context other;
  auto nothing = [](std::string_view) { return std::string(); };
  EXPECT_THROW(ControlServer(other.get_executor(), file, nothing, ""), std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_regular_file(file)) << "not removed";
  std::filesystem::create_symlink(file, tmp_.path() / "link");
  EXPECT_THROW(ControlServer(other.get_executor(), tmp_.path() / "link", nothing, ""), std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_regular_file(file)) << "not followed";
  EXPECT_THROW(ControlServer(other.get_executor(), tmp_.path() / std::string(120, 'l'), nothing, ""), std::runtime_error)
      << "a path too long for a socket";
}

TEST(ControlClient, SaysWhyNoDaemonAnswers) {
  testing::TempDir tmp;
  std::string why;
  EXPECT_FALSE(ask_control_socket(tmp.path() / "none.sock", "x", 1s, why));
  EXPECT_EQ(why, "no socket");

  // A listener that never accepts nor answers: the client gives up at its timeout.
  auto path = tmp.path() / "mute.sock";
  {
    os::UniqueFd mute(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.native().size());
    ASSERT_EQ(::bind(mute.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(mute.get(), 4), 0);
    EXPECT_FALSE(ask_control_socket(path, "x", 300ms, why));
    EXPECT_EQ(why, "no reply in time");
  }
  EXPECT_FALSE(ask_control_socket(path, "x", 1s, why));
  EXPECT_EQ(why, "nothing listens (a daemon that ended)");
}

}  // namespace
}  // namespace hostsweep::ops
