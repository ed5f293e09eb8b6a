// Real child processes: exit statuses, signals, and the process group reaching grandchildren.
#include "hostsweep/runtime/child_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>

#include <fstream>
#include <thread>

#include "hostsweep/os/session_lock.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::runtime {
namespace {

using namespace std::chrono_literals;
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
  auto ok = ChildProcess::start(io.get_executor(), {"sh", "-c", "exit 3"}, -1, ec);
  ASSERT_TRUE(ok) << ec.message();
  auto status = run_to_exit(io, *ok);
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_EQ(status.describe(), "exit code 3");

  auto sleeper = ChildProcess::start(io.get_executor(), {"sleep", "30"}, -1, ec);
  ASSERT_TRUE(sleeper);
  sleeper->signal_group(SIGKILL);
  status = run_to_exit(io, *sleeper);
  EXPECT_EQ(status.signal, SIGKILL);
  EXPECT_EQ(status.describe(), "signal 9 (SIGKILL)");
}

TEST(ChildProcess, AMissingProgramIsAnError) {
  boost::asio::io_context io;
  std::error_code ec;
  EXPECT_FALSE(ChildProcess::start(io.get_executor(), {"no-such-program-hostsweep"}, -1, ec));
  EXPECT_TRUE(ec);
  EXPECT_FALSE(ChildProcess::start(io.get_executor(), {"/nonexistent/agent"}, -1, ec));
  EXPECT_TRUE(ec);
}

TEST(ChildProcess, TheGroupSignalReachesGrandchildren) {
  TempDir tmp;
  auto pidfile = tmp.path() / "grandchild.pid";
  boost::asio::io_context io;
  std::error_code ec;
  auto child = ChildProcess::start(io.get_executor(),
                                   {"sh", "-c", "sleep 60 & echo $! > " + pidfile.string() + "; wait"}, -1, ec);
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
    gone = ::kill(grandchild, 0) != 0;
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone);
}

TEST(ChildProcess, TheSessionLockIsHeldForAsLongAsTheChildLives) {
  TempDir tmp;
  auto lock_file = tmp.path() / ".hostsweep.lock";
  boost::asio::io_context io;
  std::error_code ec;
  std::unique_ptr<ChildProcess> child;
  {
    auto lock = os::SessionLock::try_acquire(lock_file);
    ASSERT_TRUE(lock);
    child = ChildProcess::start(io.get_executor(), {"sleep", "30"}, lock->fd(), ec);
    ASSERT_TRUE(child) << ec.message();
  }  // our fd is closed: the child's copy keeps the lock
  EXPECT_TRUE(os::SessionLock::is_held(lock_file));
  child->signal_group(SIGKILL);
  run_to_exit(io, *child);
  EXPECT_FALSE(os::SessionLock::is_held(lock_file));
}

}  // namespace
}  // namespace hostsweep::runtime
