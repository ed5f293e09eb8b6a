// What an integrator writes with the installed test kit: real fake-agent containers scripted per
// start, waits that fail the test when they run out, and a simulated clock on which half an hour
// passes in milliseconds.
#include <hostsweep/testing/harness.hpp>
#include <hostsweep/testing/store_faults.hpp>

#include <gtest/gtest.h>

#include <chrono>

namespace {

using namespace std::chrono_literals;
using hostsweep::supervisor::EventKind;
using hostsweep::testing::Harness;

TEST(Kit, ACrashedContainersMessageIsRetriedAndCompleted) {
  Harness h(hostsweep::testing::fast_options(FAKE_AGENT));
  h.create_session("s1", {"crash-after-claim", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  auto retried = h.wait_for(EventKind::message_retried, "s1");
  EXPECT_EQ(retried.message_id, id);
  auto done = h.wait_for_message("s1", id, "completed");
  EXPECT_EQ(done.tries, 1);
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 2) << h.story();
  EXPECT_FALSE(h.stop()) << "the stop abandoned work";
}

TEST(Kit, AnIdleContainerIsStoppedAtTheThirtyMinuteCeilingOfASimulatedClock) {
  Harness h(hostsweep::testing::fast_options(FAKE_AGENT));
  h.options().policy.stuck = hostsweep::policy::StuckPolicy{};  // the defaults: a 30-minute ceiling
  const auto start = hostsweep::policy::now_utc();
  h.use_manual_clock(start);
  h.create_session("s1");
  h.start();
  auto id = h.enqueue("s1");
  h.supervisor().request_check("s1");
  h.wait_for_message("s1", id, "completed");
  h.advance(30min - 1s);
  EXPECT_EQ(h.count(EventKind::container_stopped), 0) << h.story();
  h.advance(1s);
  auto stopped = h.wait_for(EventKind::container_stopped, "s1");
  EXPECT_EQ(stopped.reason, "idle");
  EXPECT_EQ(stopped.at, start + 30min);
  h.wait_for(EventKind::container_exited, "s1");
  EXPECT_FALSE(h.stop());
}

// The store's error path, driven by the fault injector: s1's inbox cannot be read twice; the
// supervisor says so, checks it again, and the message is completed all the same.
TEST(Kit, AStoreFaultIsReportedAndTheSessionRecovers) {
  using hostsweep::testing::StoreError;
  using hostsweep::testing::StoreFault;
  using hostsweep::testing::StoreOp;
  Harness h(hostsweep::testing::fast_options(FAKE_AGENT));
  h.create_session("s1");
  auto id = h.enqueue("s1");
  {
    hostsweep::testing::StoreFaults faults;
    auto read = faults.add(StoreFault(StoreOp::read, StoreError::io_error).where_file_ends_with("/s1/inbound.db").times(2));
    h.start();
    auto error = h.wait_for(EventKind::session_error, "s1");
    EXPECT_NE(error.reason.find("disk I/O error"), std::string::npos) << error.reason;
    h.wait_until([&] { return read.fired() == 2; }, "both faults fired");
    h.wait_for(EventKind::message_completed, "s1");  // while the faults are in place: no file read here
  }
  EXPECT_EQ(h.wait_for_message("s1", id, "completed").tries, 0);
  EXPECT_FALSE(h.stop());
}

TEST(Kit, AWaitThatRunsOutFailsWithTheStorySoFar) {
  Harness h(hostsweep::testing::fast_options(FAKE_AGENT));
  h.create_session("s1");
  h.start();
  h.enqueue("s1");
  h.wait_for(EventKind::message_completed, "s1");
  try {
    h.wait_for(EventKind::message_completed, "s1", 300ms);  // there was only one message
    ADD_FAILURE() << "a second completion was reported";
  } catch (const hostsweep::testing::Failure& failure) {
    EXPECT_NE(std::string(failure.what()).find("message.completed s1"), std::string::npos) << failure.what();
  }
}

}  // namespace
