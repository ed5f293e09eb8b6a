// Real child processes: exit statuses, signals, and the process group reaching grandchildren.
#include "runtime/child_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include "os/session_lock.hpp"
#include "support/process_table.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::runtime {
namespace {

using namespace std::chrono_literals;
using hostsweep::testing::alive;
using hostsweep::testing::TempDir;

ExitStatus run_to_exit(boost::asio::io_context& io, ChildProcess& child) {
  std::optional<ExitStatus> status;
  child.async_wait([&](std::error_code ec, ExitStatus s) {
    EXPECT_FALSE(ec) << ec.message();
    status = s;
  });
  io.restart();  // an earlier wait may have run it out of work
  for (int i = 0; i < 1000 && !status; ++i) io.run_for(10ms);
  EXPECT_TRUE(status);
  return status.value_or(ExitStatus{});
}

TEST(ChildProcess, ReportsExitCodesAndSignals) {
  boost::asio::io_context io;
  std::error_code ec;
  auto ok = ChildProcess::start(io.get_executor(), {"sh", "-c", "exit 3"}, {}, ec);
  ASSERT_TRUE(ok) << ec.message();
  auto status = run_to_exit(io, *ok);
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_EQ(status.describe(), "exit code 3");

  auto sleeper = ChildProcess::start(io.get_executor(), {"sleep", "30"}, {}, ec);
  ASSERT_TRUE(sleeper);
  sleeper->signal_group(SIGKILL);
  status = run_to_exit(io, *sleeper);
  EXPECT_EQ(status.signal, SIGKILL);
  EXPECT_EQ(status.describe(), "signal 9 (SIGKILL)");
}

TEST(ChildProcess, AMissingProgramIsAnError) {
  boost::asio::io_context io;
  std::error_code ec;
  EXPECT_FALSE(ChildProcess::start(io.get_executor(), {"no-such-program-hostsweep"}, {}, ec));
  EXPECT_TRUE(ec);
  EXPECT_FALSE(ChildProcess::start(io.get_executor(), {"/nonexistent/agent"}, {}, ec));
  EXPECT_TRUE(ec);
}

TEST(ChildProcess, TheGroupSignalReachesGrandchildren) {
  TempDir tmp;
  auto pidfile = tmp.path() / "grandchild.pid";
  boost::asio::io_context io;
  std::error_code ec;
  auto child = ChildProcess::start(io.get_executor(),
                                   {"sh", "-c", "sleep 60 & echo $! > " + pidfile.string() + "; wait"}, {}, ec);
  ASSERT_TRUE(child) << ec.message();
  pid_t grandchild = 0;
  for (int i = 0; i < 1000 && grandchild == 0; ++i) {
    std::ifstream in(pidfile);
    in >> grandchild;
    if (grandchild == 0) std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(::getpgid(grandchild), child->pid());  // its own group, led by the container
  child->signal_group(SIGTERM);
  run_to_exit(io, *child);
  // The grandchild got the signal too (it is not our child: poll until it is gone).
  bool gone = false;
  for (int i = 0; i < 1000 && !gone; ++i) {
    gone = !alive(grandchild);
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone);
}

// Nothing of the supervisor's reaches the container: not the session lock, not a database.
TEST(ChildProcess, InheritsNoDescriptorButItsStandardStreams) {
  TempDir tmp;
  auto lock = os::SessionLock::try_acquire(tmp.path() / "lock");
  ASSERT_TRUE(lock);
  auto listing = tmp.path() / "fds";
  boost::asio::io_context io;
  std::error_code ec;
  auto child = ChildProcess::start(io.get_executor(), {"sh", "-c", "ls /proc/self/fd > " + listing.string()}, {}, ec);
  ASSERT_TRUE(child) << ec.message();
  EXPECT_EQ(run_to_exit(io, *child).exit_code, 0);
  std::ifstream in(listing);
  std::vector<int> fds;
  for (int fd; in >> fd;) fds.push_back(fd);
  // 0, 1, 2, and the one `ls` opened to list the directory.
  EXPECT_LE(fds.size(), 4u);
  for (int fd : fds) EXPECT_TRUE(fd <= 3) << "fd " << fd << " leaked into the child";
}

// The exit is reported before the process is reaped: its group id cannot be reused meanwhile,
// so the group can still be signalled, and a grandchild left in it dies.
TEST(ChildProcess, TheGroupOutlivesItsLeaderUntilReaped) {
  TempDir tmp;
  auto pidfile = tmp.path() / "grandchild.pid";
  boost::asio::io_context io;
  std::error_code ec;
  auto child = ChildProcess::start(io.get_executor(), {"sh", "-c", "sleep 60 & echo $! > " + pidfile.string()}, {}, ec);
  ASSERT_TRUE(child) << ec.message();
  EXPECT_EQ(run_to_exit(io, *child).exit_code, 0);
  pid_t grandchild = 0;
  std::ifstream(pidfile) >> grandchild;
  ASSERT_GT(grandchild, 0);
  ASSERT_EQ(::kill(grandchild, 0), 0);
  // The leader is a zombie, not reaped: /proc still shows it.
  EXPECT_TRUE(std::filesystem::exists("/proc/" + std::to_string(child->pid())));
  child->signal_group(SIGKILL);
  child->reap();
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(child->pid())));
  bool gone = false;
  for (int i = 0; i < 1000 && !gone; ++i) {
    gone = !alive(grandchild);
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone);
  child->signal_group(SIGKILL);  // after reap: a no-op, never a reused group
}

TEST(ChildProcess, AnExecFailureIsReportedWithItsReason) {
  TempDir tmp;
  auto script = tmp.path() / "not-executable";
  { std::ofstream(script) << "#!/bin/sh\n"; }
  boost::asio::io_context io;
  std::error_code ec;
  EXPECT_FALSE(ChildProcess::start(io.get_executor(), {script.string()}, {}, ec));
  EXPECT_EQ(ec, std::error_code(EACCES, std::system_category())) << ec.message();
}

}  // namespace
}  // namespace hostsweep::runtime
