// The NOTIFY_SOCKET protocol, written by hand: datagrams to a path or an abstract name, the
// environment read once and cleared, and watchdog pings that stop while the loop is stalled.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "ops/ops_support.hpp"
#include "ops/systemd_notify.hpp"

namespace hostsweep::ops {
namespace {

using namespace std::chrono_literals;

TEST(SystemdNotify, SendsOneDatagramToAPathSocket) {
  testing::TempDir tmp;
  auto path = (tmp.path() / "notify").string();
  testing::DatagramReceiver receiver(path);
  SystemdNotifier notifier(path, std::nullopt);
  ASSERT_TRUE(notifier.enabled());
  EXPECT_TRUE(notifier.notify("READY=1\nSTATUS=all good"));
  EXPECT_EQ(receiver.receive(10s), "READY=1\nSTATUS=all good");
}

TEST(SystemdNotify, SendsToAnAbstractSocket) {
  std::string name = "@hostsweep-test-" + std::to_string(::getpid());
  testing::DatagramReceiver receiver(name);
  SystemdNotifier notifier(name, std::nullopt);
  EXPECT_TRUE(notifier.notify("STOPPING=1"));
  EXPECT_EQ(receiver.receive(10s), "STOPPING=1");
}

TEST(SystemdNotify, OffOrUnreachableIsNotAnError) {
  SystemdNotifier off;
  EXPECT_FALSE(off.enabled());
  EXPECT_FALSE(off.notify("READY=1"));
  testing::TempDir tmp;
  SystemdNotifier nobody((tmp.path() / "nobody-listens").string(), std::nullopt);
  EXPECT_FALSE(nobody.notify("READY=1"));
  SystemdNotifier relative("relative/path", std::nullopt);
  EXPECT_FALSE(relative.notify("READY=1"));
}

TEST(SystemdNotify, EnvironmentIsReadOnceAndCleared) {
  ::setenv("NOTIFY_SOCKET", "/run/x/notify", 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  auto n = SystemdNotifier::from_environment();
  EXPECT_TRUE(n.enabled());
  EXPECT_EQ(n.watchdog_timeout(), std::chrono::microseconds(3000000));
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr) << "a container would inherit it";
  EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
  EXPECT_EQ(std::getenv("WATCHDOG_PID"), nullptr);

  // Another process's watchdog is not ours to feed; a bad number is no watchdog.
  ::setenv("NOTIFY_SOCKET", "/run/x/notify", 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);
  EXPECT_FALSE(SystemdNotifier::from_environment().watchdog_timeout());
  ::setenv("WATCHDOG_USEC", "soon", 1);
  EXPECT_FALSE(SystemdNotifier::from_environment().watchdog_timeout());
  EXPECT_FALSE(SystemdNotifier::from_environment().enabled()) << "cleared by the call before";
}

// The pings come from the loop: while one handler blocks it, none is sent; once it is
// released they resume.
TEST(SystemdNotify, WatchdogPingsStopWhileTheLoopIsStalled) {
  testing::TempDir tmp;
  auto path = (tmp.path() / "notify").string();
  testing::DatagramReceiver receiver(path);
  SystemdNotifier notifier(path, std::chrono::microseconds(40000));
  boost::asio::io_context io;
  WatchdogPinger pinger(io.get_executor(), notifier, std::chrono::milliseconds(20));
  pinger.start();
  std::promise<void> release;
  std::atomic<bool> blocked{false};
  std::thread loop([&] { io.run(); });

  ASSERT_EQ(receiver.receive(10s), "WATCHDOG=1");
  boost::asio::post(io, [&] {
    blocked = true;
    release.get_future().wait();
  });
  while (!blocked) std::this_thread::sleep_for(1ms);
  // Drain what was sent before the stall began (at most one ping can be in flight).
  while (receiver.receive(100ms)) {
  }
  EXPECT_FALSE(receiver.receive(500ms)) << "a ping while the loop was stalled";
  release.set_value();
  EXPECT_EQ(receiver.receive(10s), "WATCHDOG=1") << "no ping after the loop recovered";
  boost::asio::post(io, [&] { pinger.stop(); });
  loop.join();  // stop() leaves the loop without work
  EXPECT_GE(pinger.pings(), 2u);
}

}  // namespace
}  // namespace hostsweep::ops
