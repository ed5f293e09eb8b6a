// The supervisor on a simulated clock (supervisor::ManualClock) with real containers: hours of
// policy time pass in milliseconds, and the instants of kills and stops are exact. The
// containers (the fake agent) run in real time; the test lets the supervisor see what they did
// (settle) before it moves time.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "policy/time_zone.hpp"
#include "store/outbound_store.hpp"
#include "support/supervisor_harness.hpp"

namespace hostsweep::testing {
namespace {

using supervisor::EventKind;

// The reference's windows (30 min ceiling, 60 s claim tolerance, 3 min start-up grace) on a
// clock that moves only when told.
struct SimulatedClock : ::testing::Test {
  SimulatedClock() {
    h.options().policy.stuck = policy::StuckPolicy{};
    h.options().kill_grace = 10s;
  }

  // Moves time, then lets the supervisor act on it (the kit's advance(): settle, move, settle).
  void advance(Duration d) { h.advance(d); }

  const TimePoint start = policy::now_utc();
  // Its destructor stops the supervisor, moving the simulated clock through the kill grace.
  SupervisorHarness h;
  supervisor::ManualClock* clock = &h.use_manual_clock(start);
};

// What operators see: an idle container that falls silent is stopped at its idle timeout (the
// ceiling by default), said at info level as container.stopped, not killed as stuck.
TEST_F(SimulatedClock, AnIdleContainerIsStoppedAtItsIdleTimeoutNotKilled) {
  h.create_session("s1");
  h.start();
  auto id = h.enqueue("s1");
  h.supervisor().request_check("s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  ASSERT_TRUE(h.settle()) << h.story();
  advance(30min - 1s);
  EXPECT_EQ(h.count(EventKind::container_stopped), 0) << h.story();
  advance(1s);
  ASSERT_EQ(h.count(EventKind::container_stopped, "s1"), 1) << h.story();
  auto stopped = h.of(EventKind::container_stopped).front();
  EXPECT_EQ(stopped.reason, "idle");
  EXPECT_EQ(stopped.at, start + 30min);  // exactly at its idle timeout
  EXPECT_EQ(h.count(EventKind::container_killed), 0) << h.story();
  EXPECT_TRUE(h.wait_for([&] { return h.count(EventKind::container_exited, "s1") == 1; })) << h.story();
}

// A container that holds a claim and falls silent is killed, at its deadline: the start-up
// grace (no heartbeat yet), measured from when the supervisor saw the claim.
TEST_F(SimulatedClock, AHungContainerIsKilledAtItsDeadlineExactly) {
  h.create_session("s1", {"hang-after-claim", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  h.supervisor().request_check("s1");
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::container_started, "s1") == 1; })) << h.story();
  ASSERT_TRUE(h.wait_for([&] { return store::read_outbound(h.files("s1")).acks.size() == 1; })) << h.story();
  ASSERT_TRUE(h.settle()) << h.story();
  advance(3min);
  EXPECT_EQ(h.count(EventKind::container_killed), 0) << h.story();  // not before its grace is over
  advance(1s);
  ASSERT_EQ(h.count(EventKind::container_killed, "s1"), 1) << h.story();
  auto killed = h.of(EventKind::container_killed).front();
  EXPECT_EQ(killed.reason, "claim-stuck");
  EXPECT_EQ(killed.at, start + 3min + 1s);
  EXPECT_EQ(killed.late_by, 1s);  // how far past its deadline: the second this test moved past it
  // SIGTERM ends it; its message is retried, and a container is started for it once it is due
  // again. (It cannot complete it: the container's clock is the real one, minutes behind.)
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::message_retried, "s1") == 1; })) << h.story();
  EXPECT_EQ(h.message("s1", id).tries, 1);
  advance(10min);
  EXPECT_TRUE(h.wait_for([&] { return h.count(EventKind::container_started, "s1") == 2; })) << h.story();
}

// FAILURE-MODES.md 19: a step of the wall clock by an hour either way kills no healthy container,
// and due work is due by the wall clock: never early.
TEST_F(SimulatedClock, FailureMode19_AWallClockStepKillsNothingAndStartsNothingEarly) {
  h.create_session("s1");
  h.start();
  auto now_id = h.enqueue("s1");
  h.supervisor().request_check("s1");
  ASSERT_TRUE(h.wait_for_status("s1", now_id, "completed")) << h.story();
  ASSERT_TRUE(h.settle()) << h.story();

  // A running, healthy container: the wall clock jumps forward an hour, then back two.
  clock->step_wall(1h);
  h.supervisor().request_check("s1");
  ASSERT_TRUE(h.settle()) << h.story();
  clock->step_wall(-2h);
  h.supervisor().request_check("s1");
  ASSERT_TRUE(h.settle()) << h.story();
  EXPECT_EQ(h.count(EventKind::container_killed), 0) << h.story();
  EXPECT_EQ(h.count(EventKind::container_stopped), 0) << h.story();

  // Work due 90 minutes from now by the (stepped) wall clock is not started when 45 minutes of
  // steady time pass; the idle container is meanwhile stopped as idle.
  h.enqueue("s1", {.process_after = clock->wall_now() + 1h + 30min});
  h.supervisor().request_check("s1");
  ASSERT_TRUE(h.settle()) << h.story();
  advance(45min);
  EXPECT_EQ(h.count(EventKind::container_stopped, "s1"), 1) << h.story();
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::container_exited, "s1") == 1; })) << h.story();
  ASSERT_TRUE(h.settle()) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 1) << h.story();
  // The wall clock steps past its due time: the wall-clock wait is re-read and the container
  // starts. (It will not claim the message: its own clock is the real one.)
  clock->step_wall(1h);
  EXPECT_TRUE(h.wait_for([&] { return h.count(EventKind::container_started, "s1") == 2; })) << h.story();
  EXPECT_EQ(h.count(EventKind::container_killed), 0) << h.story();
}

// FAILURE-MODES.md 8 on the simulated clock: a container that exits at once without doing any
// work backs its session off 1 s, 2 s, 4 s ... up to the five-minute cap and no further; each
// next start comes exactly when its backoff is over, never a second before.
TEST_F(SimulatedClock, ACrashLoopBacksOffToItsFiveMinuteCapAtExactInstants) {
  h.options().start_backoff = policy::StartBackoffPolicy{};  // the defaults: 1 s doubling to 5 min
  h.create_session("s1", {"exit-immediately 3"});           // every start plays it again
  h.start();
  h.enqueue("s1");
  h.supervisor().request_check("s1");
  const std::vector<Duration> expected{1s, 2s, 4s, 8s, 16s, 32s, 64s, 128s, 256s, 5min, 5min};
  for (std::size_t run = 0; run < expected.size(); ++run) {
    ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::session_backoff, "s1") == static_cast<int>(run + 1); }))
        << "run " << run << "\n" << h.story();
    ASSERT_TRUE(h.settle()) << h.story();
    const auto backoff = h.of(EventKind::session_backoff).back();
    EXPECT_EQ(backoff.delay, expected[run]) << "run " << run << "\n" << h.story();
    const auto backed_off_at = clock->wall_now();
    EXPECT_EQ(backoff.at, backed_off_at);
    // A second before the backoff is over: no start.
    advance(expected[run] - 1s);
    EXPECT_EQ(h.count(EventKind::container_started, "s1"), static_cast<int>(run + 1)) << "run " << run << "\n" << h.story();
    advance(1s);
    ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::container_started, "s1") == static_cast<int>(run + 2); }))
        << "run " << run << "\n" << h.story();
    EXPECT_EQ(h.of(EventKind::container_started).back().at, backed_off_at + expected[run]);
  }
}

// A daily schedule across a change to summer time, on the simulated clock: "every day at 09:00"
// in Berlin runs at 08:00 UTC on the Saturday and at 07:00 UTC on the Sunday, 23 hours later,
// and its container starts exactly then. The container is a bare `sleep`; the test writes its
// ack, as a container would.
TEST(SimulatedClockSchedule, ADailyScheduleKeepsItsLocalTimeAcrossTheChangeToSummerTime) {
  const TimePoint saturday_0900_cet = *policy::parse_timestamp("2027-03-27T08:00:00Z");
  const TimePoint sunday_0900_cest = *policy::parse_timestamp("2027-03-28T07:00:00Z");  // clocks went forward at 01:00 UTC
  SupervisorHarness h;
  auto& clock = h.use_manual_clock(saturday_0900_cet + 30min);
  h.options().policy.stuck = policy::StuckPolicy{};
  h.options().policy.zone = &policy::find_time_zone("Europe/Berlin");
  h.options().runtime.agent_command = {"/bin/sleep", "3600"};
  h.create_session("s1");
  h.start();
  auto first = h.enqueue("s1", {.kind = "task", .content = "daily", .process_after = saturday_0900_cet,
                                .recurrence = "0 9 * * *"});
  h.supervisor().request_check("s1");
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::container_started, "s1") == 1; })) << h.story();
  // Woken by work scheduled for 09:00 at 09:30: half an hour late (metrics' due_to_start).
  EXPECT_EQ(h.of(EventKind::container_started).front().reason, "scheduled");
  EXPECT_EQ(h.of(EventKind::container_started).front().late_by, 30min);
  {
    SQLite::Database out(h.files("s1").outbound().string(), SQLite::OPEN_READWRITE);
    out.setBusyTimeout(5000);  // as a container's own SQLite waits: the supervisor may be reading it
    SQLite::Statement ack(out, "INSERT INTO processing_ack VALUES (?, 'completed', ?)");
    ack.bind(1, first);
    ack.bind(2, policy::format_iso8601(clock.wall_now()));
    ack.exec();
  }
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::recurrence_scheduled, "s1") == 1; })) << h.story();
  ASSERT_TRUE(h.settle()) << h.story();
  EXPECT_EQ(policy::to_string(h.message("s1", first).status), std::string("completed"));
  {
    SQLite::Database in(h.files("s1").inbound().string());
    SQLite::Statement next(in, "SELECT process_after FROM messages_in WHERE series_id = ? AND id != ?");
    next.bind(1, first);
    next.bind(2, first);
    ASSERT_TRUE(next.executeStep());
    EXPECT_EQ(policy::parse_timestamp(next.getColumn(0).getString()), sunday_0900_cest);
  }
  // The idle container is stopped at its idle timeout; the next starts at 09:00 local, exactly.
  clock.advance(1h);
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::container_exited, "s1") == 1; })) << h.story();
  ASSERT_TRUE(h.settle()) << h.story();
  clock.advance(sunday_0900_cest - 1s - clock.wall_now());
  ASSERT_TRUE(h.settle()) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 1) << "started before its time\n" << h.story();
  clock.advance(1s);
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::container_started, "s1") == 2; })) << h.story();
  EXPECT_EQ(h.of(EventKind::container_started).back().at, sunday_0900_cest);
  EXPECT_EQ(h.of(EventKind::container_started).back().reason, "scheduled");
  EXPECT_EQ(h.of(EventKind::container_started).back().late_by, 0ms) << "started at its time";

  h.stop();
}

}  // namespace
}  // namespace hostsweep::testing
