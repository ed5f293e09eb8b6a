// The session machine as a table: each test is a row (a stage, an event, the facts) and the
// stage and actions it must give. Failure modes the machine decides are named by number
// (docs/FAILURE-MODES.md); time is given, never read.
#include "policy/session_machine.hpp"

#include <gtest/gtest.h>

namespace hostsweep::policy {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

const TimePoint kWall = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};
const SteadyTime kSteady = SteadyTime{} + 100h;

MachinePolicy test_policy() {
  MachinePolicy p;
  p.stuck.ceiling = 30min;
  p.stuck.claim_tolerance = 60s;
  p.stuck.startup_grace = 3min;
  p.start_backoff = {.base = 1s, .cap = 5min, .reset_after = 1min};
  p.kill_grace = 10s;
  p.idle_timeout = 30min;
  p.start_failure_alert = 3;
  p.unverified_retry = 60s;
  p.held_elsewhere_retry = 1s;
  return p;
}

// A session driven through the machine, with its clock and its actions.
class Row {
 public:
  explicit Row(MachinePolicy policy = test_policy()) : policy_(std::move(policy)) {}

  // Feeds one event at the current instant; returns its actions.
  const std::vector<Action>& feed(const Event& e) {
    auto step = transition(state_, e, MachineFacts{policy_, stopping_}, now());
    state_ = std::move(step.state);
    last_ = std::move(step.actions);
    return last_;
  }
  void advance(Duration d) { elapsed_ += d; }
  void step_wall(Duration d) { wall_step_ += d; }
  void stop() {
    stopping_ = true;
    feed(event::StopRequested{});
  }
  Now now() const { return {kWall + elapsed_ + wall_step_, kSteady + elapsed_}; }
  TimePoint wall() const { return now().wall; }
  SessionState& state() { return state_; }
  const std::vector<Action>& last() const { return last_; }

  // A check's result for our running container, read now.
  event::CheckDone looked(LivenessFacts facts, bool work_due = false) const {
    event::CheckDone d;
    facts.now = wall();
    facts.container_started_at = started_wall_;
    d.liveness = std::move(facts);
    d.work_due = work_due;
    d.at = now().steady;
    return d;
  }
  event::CheckDone done() const {
    event::CheckDone d;
    d.at = now().steady;
    return d;
  }

  // idle -> checked -> started: a container runs.
  void start_container() {
    feed(event::Triggered{});
    auto ready = done();
    ready.start_ready = true;
    feed(ready);
    started_wall_ = wall();
    feed(event::Started{});
  }
  // A container ends and its cleanup commits.
  void end_run() {
    feed(event::Exited{"exit status 1", false});
    feed(event::Ended{});
    auto cleanup = done();
    cleanup.cleanup = true;
    feed(cleanup);
  }

 private:
  MachinePolicy policy_;
  SessionState state_;
  std::vector<Action> last_;
  Duration elapsed_{0};
  Duration wall_step_{0};
  bool stopping_ = false;
  TimePoint started_wall_{};
};

template <typename A>
std::vector<A> all_of(const std::vector<Action>& actions) {
  std::vector<A> out;
  for (const auto& a : actions) {
    if (auto* x = std::get_if<A>(&a)) out.push_back(*x);
  }
  return out;
}
template <typename A>
bool has(const std::vector<Action>& actions) {
  return !all_of<A>(actions).empty();
}
std::optional<Duration> armed(const std::vector<Action>& actions, Timer timer) {
  for (const auto& arm : all_of<action::Arm>(actions)) {
    if (arm.timer == timer) return arm.after;
  }
  return std::nullopt;
}
std::optional<action::Emit> said(const std::vector<Action>& actions, Notice notice) {
  for (const auto& e : all_of<action::Emit>(actions)) {
    if (e.notice == notice) return e;
  }
  return std::nullopt;
}
std::optional<action::RunCheck> check_of(const std::vector<Action>& actions) {
  auto checks = all_of<action::RunCheck>(actions);
  EXPECT_LE(checks.size(), 1u);
  return checks.empty() ? std::nullopt : std::optional(checks.front());
}

LivenessFacts heartbeat_at(TimePoint mtime) {
  LivenessFacts f;
  f.heartbeat_mtime = mtime;
  return f;
}

// --- checks -------------------------------------------------------------------------------------

TEST(SessionMachine, ATriggerChecksAndTheCheckMayStart) {
  Row r;
  auto check = check_of(r.feed(event::Triggered{}));
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->may_start);
  EXPECT_FALSE(check->cleanup);
  auto ready = r.done();
  ready.start_ready = true;
  EXPECT_TRUE(has<action::Spawn>(r.feed(ready)));
}

TEST(SessionMachine, TriggersDuringACheckCoalesceIntoOneMore) {
  Row r;
  r.feed(event::Triggered{});
  EXPECT_TRUE(r.feed(event::Triggered{}).empty());
  EXPECT_TRUE(r.feed(event::Triggered{}).empty());
  EXPECT_TRUE(check_of(r.feed(r.done())));
  EXPECT_FALSE(check_of(r.feed(r.done())));  // only one more
  EXPECT_FALSE(r.state().check_in_flight);
}

TEST(SessionMachine, NoStartWhileStoppingOrRemoved) {
  for (bool stopping : {true, false}) {
    Row r;
    r.feed(event::Triggered{});
    if (stopping) r.stop();
    else r.feed(event::Removed{});
    auto ready = r.done();
    ready.start_ready = true;
    auto actions = r.feed(ready);
    EXPECT_FALSE(has<action::Spawn>(actions)) << "stopping " << stopping;  // the handed lock is released
  }
}

// Errors are states, not wedges: a failed check is looked at again, later each time, and each
// distinct error is said once.
TEST(SessionMachine, AFailedCheckIsRetriedWithBackoffAndReportedOnce) {
  Row r;
  r.feed(event::Triggered{});
  auto failed = r.done();
  failed.error = "inbound.db: file is not a database";
  auto actions = r.feed(failed);
  EXPECT_EQ(armed(actions, Timer::retry), 1s);
  EXPECT_TRUE(said(actions, Notice::session_error));
  r.feed(event::Triggered{});
  actions = r.feed(failed);
  EXPECT_EQ(armed(actions, Timer::retry), 2s);
  EXPECT_FALSE(said(actions, Notice::session_error));  // the same error: said once
  for (int i = 0; i < 20; ++i) {
    r.feed(event::Triggered{});
    actions = r.feed(failed);
  }
  EXPECT_EQ(armed(actions, Timer::retry), 5min);  // capped
  r.feed(event::Triggered{});
  actions = r.feed(r.done());
  EXPECT_FALSE(armed(actions, Timer::retry));
  EXPECT_EQ(r.state().last_error, "");
}

// A container killed mid-commit leaves a hot journal that its cleanup rolls back a moment
// later: a check that meets it while the container still seems to run says nothing, nor do the
// checks that meet it again within kProblemConfirmation (the instant between the writer's death
// and the container's), nor one that returns after the exit; a reading kProblemConfirmation
// later with the container still running (it lives on with the journal) says it once; a
// problem that is not of that kind is said at once.
TEST(SessionMachine, AHotJournalBesideARunningContainerIsSaidOnlyWhenItLasts) {
  Row r;
  r.start_container();
  auto hot = r.looked({});
  hot.problem = "outbound.db has a hot journal (a writer died mid-transaction)";
  hot.problem_may_pass = true;
  hot.outbound_read = false;
  r.feed(event::Triggered{});
  EXPECT_FALSE(said(r.feed(hot), Notice::session_error));
  EXPECT_EQ(armed(r.last(), Timer::retry), kProblemConfirmation) << "a look again, whatever the files do";
  EXPECT_EQ(r.state().last_error, "");
  r.advance(kProblemConfirmation / 2);
  r.feed(event::Triggered{});
  hot.at = r.now().steady;
  EXPECT_FALSE(said(r.feed(hot), Notice::session_error)) << "seen again at once: the container may be dying";
  r.advance(kProblemConfirmation / 2);
  r.feed(event::Triggered{});
  hot.at = r.now().steady;
  EXPECT_TRUE(said(r.feed(hot), Notice::session_error));
  r.advance(kProblemConfirmation);
  r.feed(event::Triggered{});
  hot.at = r.now().steady;
  EXPECT_FALSE(said(r.feed(hot), Notice::session_error));  // the same problem: said once

  Row late;
  late.start_container();
  auto first = late.looked({});
  first.problem = hot.problem;
  first.problem_may_pass = true;
  late.feed(event::Triggered{});
  EXPECT_FALSE(said(late.feed(first), Notice::session_error));
  late.feed(event::Triggered{});
  late.advance(kProblemConfirmation * 2);
  late.feed(event::Exited{"signal 9", false});
  auto after_exit = late.looked({});
  after_exit.problem = hot.problem;
  after_exit.problem_may_pass = true;
  EXPECT_FALSE(said(late.feed(after_exit), Notice::session_error)) << "the cleanup's business now";

  Row passing;
  passing.start_container();
  passing.feed(event::Triggered{});
  EXPECT_FALSE(said(passing.feed(hot), Notice::session_error));
  passing.feed(event::Exited{});
  passing.feed(event::Ended{});
  auto cleanup = passing.done();
  cleanup.cleanup = true;  // under the lock: rolled back, read
  EXPECT_FALSE(said(passing.feed(cleanup), Notice::session_error));
  EXPECT_EQ(passing.state().unconfirmed_problem, "");

  Row refused;
  refused.start_container();
  auto link = refused.looked({});
  link.problem = "outbound.db is a symlink: refused";
  link.outbound_read = false;
  refused.feed(event::Triggered{});
  EXPECT_TRUE(said(refused.feed(link), Notice::session_error));
}

// FAILURE-MODES.md 17: a due time in year 9999 arms no timer that fires at once.
TEST(SessionMachine, FailureMode17_AFarFutureDueTimeIsClamped) {
  Row r;
  r.feed(event::Triggered{});
  auto d = r.done();
  d.next_due = TimePoint{sys_days{year{9999} / 12 / 31}};
  EXPECT_EQ(armed(r.feed(d), Timer::due), kMaxTimerWait);
  r.feed(event::Triggered{});
  d.next_due = r.wall() + 90s;
  EXPECT_EQ(armed(r.feed(d), Timer::due), 90s);
  r.feed(event::Triggered{});
  d.next_due = r.wall() - 1h;  // overdue: now
  EXPECT_EQ(armed(r.feed(d), Timer::due), 0s);
}

TEST(SessionMachine, ALockHeldElsewhereIsLookedAtAgainAndReportedOnce) {
  Row r;
  r.feed(event::Triggered{});
  auto held = r.done();
  held.held_elsewhere = true;
  held.holder = "a maintenance pass";
  auto actions = r.feed(held);
  EXPECT_EQ(r.state().stage, Stage::held_elsewhere);
  EXPECT_TRUE(said(actions, Notice::locked_elsewhere));
  EXPECT_EQ(armed(actions, Timer::retry), 1s);
  EXPECT_TRUE(check_of(r.feed(event::Triggered{})));
  actions = r.feed(held);
  EXPECT_FALSE(said(actions, Notice::locked_elsewhere));
  EXPECT_TRUE(armed(actions, Timer::retry));
}

// --- liveness -----------------------------------------------------------------------------------

TEST(SessionMachine, AHealthyContainerArmsItsLivenessDeadline) {
  Row r;
  r.start_container();
  EXPECT_EQ(r.state().stage, Stage::running);
  EXPECT_TRUE(check_of(r.last()));
  r.advance(10s);
  auto actions = r.feed(r.looked(heartbeat_at(r.wall()), true));
  EXPECT_EQ(armed(actions, Timer::liveness), 30min + 1ms);  // from the heartbeat just seen, one tick past
}

// A touch of the heartbeat alone moves the deadline: no check, no pass over the files.
TEST(SessionMachine, AHeartbeatMovesTheDeadlineWithoutACheck) {
  Row r;
  r.start_container();
  r.feed(r.looked(heartbeat_at(r.wall()), true));
  r.advance(20min);
  auto actions = r.feed(event::HeartbeatTouched{.mtime = r.wall(), .at = r.now().steady});
  EXPECT_FALSE(check_of(actions));
  EXPECT_EQ(armed(actions, Timer::liveness), 30min + 1ms);
  // The same mtime again is no new sign of life: the deadline stays where the last one put it.
  r.advance(5min);
  actions = r.feed(event::HeartbeatTouched{.mtime = r.wall() - 5min, .at = r.now().steady});
  EXPECT_EQ(armed(actions, Timer::liveness), 25min + 1ms);
  // Nor is a heartbeat that is not a regular file (nullopt).
  actions = r.feed(event::HeartbeatTouched{.mtime = std::nullopt, .at = r.now().steady});
  EXPECT_FALSE(check_of(actions));
  EXPECT_EQ(armed(actions, Timer::liveness), 25min + 1ms);
}

TEST(SessionMachine, ASilentContainerIsKilledAtTheCeilingEvenWithHeartbeatEventsOfAnUnchangedFile) {
  Row r;
  r.start_container();
  const auto mtime = r.wall();
  r.feed(r.looked(heartbeat_at(mtime), true));
  r.advance(30min + 5s);
  auto actions = r.feed(event::HeartbeatTouched{.mtime = mtime, .at = r.now().steady});
  auto killed = said(actions, Notice::container_killed);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, "ceiling");
}

// With no container of ours running, a heartbeat means nothing: no check, no timer.
TEST(SessionMachine, AHeartbeatWithNoContainerRunningDoesNothing) {
  Row idle;
  EXPECT_TRUE(idle.feed(event::HeartbeatTouched{.mtime = idle.wall(), .at = idle.now().steady}).empty());
  Row stopping;
  stopping.start_container();
  stopping.feed(stopping.looked(heartbeat_at(stopping.wall()), true));
  stopping.advance(31min);
  stopping.feed(event::Triggered{});
  stopping.feed(stopping.looked(heartbeat_at(stopping.wall() - 31min), true));
  ASSERT_EQ(stopping.state().stage, Stage::stopping);
  EXPECT_TRUE(stopping.feed(event::HeartbeatTouched{.mtime = stopping.wall(), .at = stopping.now().steady}).empty())
      << "a container being stopped is not spared by a late heartbeat";
}

TEST(SessionMachine, ASilentContainerIsKilledAtTheCeilingWithHowLate) {
  Row r;
  r.start_container();
  r.feed(r.looked(heartbeat_at(r.wall()), true));
  r.advance(30min + 5s);
  r.feed(event::Triggered{});
  auto actions = r.feed(r.looked(heartbeat_at(r.wall() - 30min - 5s), true));
  auto killed = said(actions, Notice::container_killed);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, "ceiling");
  EXPECT_EQ(killed->late_by, 5s);
  EXPECT_TRUE(has<action::Signal>(actions));
  EXPECT_FALSE(all_of<action::Signal>(actions).front().kill);
  EXPECT_EQ(armed(actions, Timer::kill_grace), 10s);
  EXPECT_TRUE(has<action::Signal>(r.feed(event::KillGraceOver{})));
  EXPECT_TRUE(all_of<action::Signal>(r.last()).front().kill);
}

// FAILURE-MODES.md 19: a heartbeat mtime in the future buys nothing: silence runs from when the
// supervisor saw it change.
TEST(SessionMachine, FailureMode19_AFutureHeartbeatBuysNothing) {
  Row r;
  r.start_container();
  const TimePoint next_year = r.wall() + 24h * 365;
  r.feed(r.looked(heartbeat_at(next_year), true));
  r.advance(30min + 1s);
  r.feed(event::Triggered{});
  auto killed = said(r.feed(r.looked(heartbeat_at(next_year), true)), Notice::container_killed);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, "ceiling");
}

// FAILURE-MODES.md 19: a claim time in the future buys nothing either.
TEST(SessionMachine, FailureMode19_AFutureClaimTimeBuysNothing) {
  Row r;
  r.start_container();
  r.advance(5s);
  auto facts = heartbeat_at(r.wall());
  r.feed(r.looked(facts, true));
  r.advance(5s);
  facts.acks = {{"m1", "processing", format_sqlite(r.wall() + 24h * 365 * 100)}};
  r.feed(event::Triggered{});
  EXPECT_EQ(armed(r.feed(r.looked(facts, true)), Timer::liveness), 60s + 1ms);
  r.advance(61s);
  r.feed(event::Triggered{});
  auto killed = said(r.feed(r.looked(facts, true)), Notice::container_killed);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, "claim-stuck");
}

// FAILURE-MODES.md 19: a step of the wall clock by an hour either way kills no healthy container.
TEST(SessionMachine, FailureMode19_AWallClockStepKillsNoHealthyContainer) {
  for (Duration step : {1h, -1h}) {
    Row r;
    r.start_container();
    auto facts = heartbeat_at(r.wall());
    facts.acks = {{"m1", "processing", format_sqlite(r.wall())}};
    r.feed(r.looked(facts, true));
    r.advance(20s);
    r.step_wall(step);
    facts.heartbeat_mtime = r.wall();  // it goes on beating, by the stepped clock
    r.feed(event::Triggered{});
    auto actions = r.feed(r.looked(facts, true));
    EXPECT_FALSE(said(actions, Notice::container_killed)) << format_duration(step);
    EXPECT_EQ(armed(actions, Timer::liveness), 30min + 1ms) << format_duration(step);
  }
}

// FAILURE-MODES.md 16: a broken file never spares a silent container: it is judged from what was
// observed (no change is no sign of life).
TEST(SessionMachine, FailureMode16_AnUnreadableFileDoesNotHideAHungContainer) {
  Row r;
  r.start_container();
  r.feed(r.looked(heartbeat_at(r.wall()), true));
  r.advance(31min);
  r.feed(event::Triggered{});
  auto broken = r.done();
  broken.error = "outbound.db is a symlink: refused";
  auto killed = said(r.feed(broken), Notice::container_killed);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, "ceiling");
}

TEST(SessionMachine, AnUnreadableOutboundKeepsTheClaimsLastSeen) {
  Row r;
  r.start_container();
  auto facts = heartbeat_at(r.wall());
  facts.acks = {{"m1", "processing", format_sqlite(r.wall())}};
  r.feed(r.looked(facts, true));
  r.advance(61s);
  auto unreadable = r.looked(heartbeat_at(facts.heartbeat_mtime.value()), true);
  unreadable.outbound_read = false;
  unreadable.problem = "outbound.db: database disk image is malformed";
  r.feed(event::Triggered{});
  auto killed = said(r.feed(unreadable), Notice::container_killed);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, "claim-stuck");
}

// What operators see: an idle container is stopped, not killed as stuck.
TEST(SessionMachine, AnIdleContainerIsStoppedNotKilled) {
  auto policy = test_policy();
  policy.idle_timeout = 5min;
  Row r(policy);
  r.start_container();
  r.feed(r.looked(heartbeat_at(r.wall())));
  EXPECT_EQ(armed(r.last(), Timer::liveness), 5min);
  r.advance(5min);
  r.feed(event::Triggered{});
  auto actions = r.feed(r.looked(heartbeat_at(r.wall() - 5min)));
  auto stopped = said(actions, Notice::container_stopped);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->reason, "idle");
  EXPECT_FALSE(said(actions, Notice::container_killed));
  EXPECT_EQ(r.state().stage, Stage::stopping);
}

TEST(SessionMachine, ASilentContainerWithAClaimIsKilledNotStoppedAsIdle) {
  auto policy = test_policy();
  policy.idle_timeout = 30s;
  Row r(policy);
  r.start_container();
  auto facts = heartbeat_at(r.wall());
  facts.acks = {{"m1", "processing", format_sqlite(r.wall())}};
  r.feed(r.looked(facts, true));
  r.advance(61s);
  r.feed(event::Triggered{});
  auto actions = r.feed(r.looked(facts, true));
  EXPECT_FALSE(said(actions, Notice::container_stopped));
  auto killed = said(actions, Notice::container_killed);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, "claim-stuck");
}

// --- the end of a container -----------------------------------------------------------------

TEST(SessionMachine, AnExitIsCleanedUpUnderTheLockThenTheNextStartIsChecked) {
  Row r;
  r.start_container();
  r.feed(r.looked(heartbeat_at(r.wall()), true));
  r.advance(2min);  // a good run: no backoff
  r.feed(event::Exited{"exit status 0", true});
  EXPECT_EQ(r.state().stage, Stage::ending);
  auto check = check_of(r.feed(event::Ended{}));
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->cleanup);
  EXPECT_FALSE(check->may_start);
  EXPECT_FALSE(said(r.last(), Notice::cleaned_up)) << "not before the cleanup has committed";
  r.advance(7ms);  // the cleanup's check takes its time
  auto cleanup = r.done();
  cleanup.cleanup = true;
  check = check_of(r.feed(cleanup));
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->may_start);
  EXPECT_EQ(r.state().stage, Stage::idle);
  auto cleaned = said(r.last(), Notice::cleaned_up);
  ASSERT_TRUE(cleaned);
  EXPECT_EQ(cleaned->duration, 7ms);  // from the exit to the cleanup: metrics' exit_to_cleanup
}

// Only the check that ran the cleanup ends it: one dispatched before the exit did not.
TEST(SessionMachine, ACheckInFlightAtTheEndIsFollowedByTheCleanup) {
  Row r;
  r.start_container();  // its first check is in flight
  r.feed(event::Exited{"killed by signal 9", false});
  EXPECT_FALSE(check_of(r.feed(event::Ended{})));
  auto check = check_of(r.feed(r.done()));
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->cleanup);
}

// A failed cleanup is retried with backoff, not left waiting for a trigger that may not come.
TEST(SessionMachine, AFailedCleanupIsRetriedNeverWedged) {
  Row r;
  r.start_container();
  r.feed(r.done());
  r.feed(event::Exited{"exit status 1", false});
  r.feed(event::Ended{});
  auto failed = r.done();
  failed.cleanup = true;
  failed.error = "inbound.db is locked";
  auto actions = r.feed(failed);
  EXPECT_EQ(r.state().stage, Stage::cleaning_up);
  EXPECT_EQ(armed(actions, Timer::retry), 1s);
  auto check = check_of(r.feed(event::Triggered{}));  // the retry timer
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->cleanup);
}

TEST(SessionMachine, BadRunsBackOffThenAlertOnceThenRecover) {
  Row r;
  for (int run = 1; run <= 4; ++run) {
    r.start_container();
    r.feed(r.done());
    r.feed(event::Exited{"exit status 3", false});
    r.feed(event::Ended{});
    auto cleanup = r.done();
    cleanup.cleanup = true;
    auto actions = r.feed(cleanup);
    EXPECT_EQ(r.state().stage, Stage::backing_off);
    auto backoff = said(actions, Notice::session_backoff);
    ASSERT_TRUE(backoff);
    EXPECT_EQ(backoff->failures, run);
    EXPECT_EQ(armed(actions, Timer::backoff), Duration{1s * (1 << (run - 1))});
    auto alert = said(actions, Notice::start_failing);
    EXPECT_EQ(alert.has_value(), run == 3) << "run " << run;  // once, at the threshold
    if (alert) {
      EXPECT_EQ(alert->reason, "exit status 3");
    }
    EXPECT_TRUE(check_of(r.feed(event::BackoffOver{})));
    r.feed(r.done());  // nothing due yet
  }
  // A run that does work resets it all, and says so.
  r.start_container();
  auto worked = r.looked(heartbeat_at(r.wall()), true);
  worked.settled_work = true;
  EXPECT_TRUE(said(r.feed(worked), Notice::recovered));  // as soon as it works
  r.end_run();
  EXPECT_FALSE(said(r.last(), Notice::recovered));
  EXPECT_EQ(r.state().start_failures, 0);
  EXPECT_EQ(r.state().stage, Stage::idle);
}

TEST(SessionMachine, AStartThatFailsBacksOffAndAlerts) {
  Row r;
  for (int i = 1; i <= 3; ++i) {
    r.feed(event::Triggered{});
    auto ready = r.done();
    ready.start_ready = true;
    r.feed(ready);
    auto actions = r.feed(event::StartFailed{"cannot start the agent command: No such file or directory"});
    EXPECT_EQ(r.state().stage, Stage::backing_off);
    EXPECT_EQ(said(actions, Notice::start_failing).has_value(), i == 3);
    r.feed(event::BackoffOver{});
    r.feed(r.done());
  }
}

TEST(SessionMachine, AnOrphanIsAdoptedAndStopped) {
  Row r;
  r.feed(event::Triggered{});
  auto found = r.done();
  found.orphan = true;
  EXPECT_TRUE(has<action::Adopt>(r.feed(found)));
  auto actions = r.feed(event::Adopted{"left by supervisor pid 12"});
  auto killed = said(actions, Notice::container_killed);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, "orphan");
  EXPECT_TRUE(armed(actions, Timer::kill_grace));
  r.feed(event::Ended{});
  auto cleanup = r.done();
  cleanup.cleanup = true;
  actions = r.feed(cleanup);
  EXPECT_FALSE(said(actions, Notice::session_backoff));  // its run says nothing about ours
  EXPECT_TRUE(check_of(actions));
}

TEST(SessionMachine, FailureMode11_AnUnverifiableOrphanIsNeverSignalled) {
  Row r;
  r.feed(event::Triggered{});
  auto found = r.done();
  found.orphan = true;
  r.feed(found);
  auto actions = r.feed(event::AdoptRefused{"its holder record names another cgroup"});
  EXPECT_FALSE(has<action::Signal>(actions));
  EXPECT_TRUE(said(actions, Notice::session_error));
  EXPECT_EQ(armed(actions, Timer::retry), 60s);
}

// --- the registry -------------------------------------------------------------------------------

TEST(SessionMachine, ARemovedSessionIsForgottenOnceNothingIsLeft) {
  Row idle;
  EXPECT_TRUE(has<action::Forget>(idle.feed(event::Removed{})));
  EXPECT_EQ(idle.state().stage, Stage::retired);
  EXPECT_FALSE(check_of(idle.feed(event::Triggered{})));

  Row running;
  running.start_container();
  running.feed(running.done());
  auto actions = running.feed(event::Removed{});
  EXPECT_TRUE(said(actions, Notice::session_removed));
  EXPECT_FALSE(has<action::Forget>(actions));  // its container runs on until it ends
  running.feed(event::Exited{"exit status 0", true});
  running.feed(event::Ended{});
  auto cleanup = running.done();
  cleanup.cleanup = true;
  EXPECT_TRUE(has<action::Forget>(running.feed(cleanup)));
}

// --- shutdown (FAILURE-MODES.md 15) -------------------------------------------------------------

TEST(SessionMachine, AStopStopsTheContainerAndWaitsForItsCleanupOnly) {
  Row r;
  r.start_container();
  r.feed(r.done());
  r.stop();
  auto killed = said(r.last(), Notice::container_killed);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->reason, "shutdown");
  EXPECT_TRUE(stop_waits_for(r.state()));
  EXPECT_FALSE(check_of(r.feed(event::Triggered{})));  // nothing new is looked at
  r.feed(event::Exited{"killed by signal 15", false});
  auto check = check_of(r.feed(event::Ended{}));
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->cleanup);
  EXPECT_FALSE(check->retry_orphans);  // an interrupted message keeps its tries
  auto cleanup = r.done();
  cleanup.cleanup = true;
  auto actions = r.feed(cleanup);
  EXPECT_FALSE(check_of(actions));
  EXPECT_FALSE(said(actions, Notice::session_backoff));
  EXPECT_FALSE(stop_waits_for(r.state()));
}

TEST(SessionMachine, AStopTriesAWaitingCleanupAtOnceAndRetriesItWhileStopping) {
  Row r;
  r.start_container();
  r.feed(r.done());
  r.feed(event::Exited{"exit status 1", false});
  r.feed(event::Ended{});
  auto failed = r.done();
  failed.cleanup = true;
  failed.error = "inbound.db is locked";
  r.feed(failed);
  r.stop();
  auto check = check_of(r.last());
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->cleanup);
  EXPECT_EQ(armed(r.feed(failed), Timer::retry), 2s);  // still retried: the stop waits for it
  EXPECT_TRUE(stop_waits_for(r.state()));
}

TEST(SessionMachine, AStopCancelsWaitsAndAnIdleSessionIsDoneAtOnce) {
  Row r;
  r.start_container();
  r.feed(r.done());
  r.end_run();  // a bad run: backing off
  ASSERT_EQ(r.state().stage, Stage::backing_off);
  r.stop();
  for (auto t : {Timer::due, Timer::backoff, Timer::retry}) {
    bool cancelled = false;
    for (const auto& c : all_of<action::Cancel>(r.last())) cancelled |= c.timer == t;
    EXPECT_TRUE(cancelled) << to_string(t);
  }
  EXPECT_FALSE(stop_waits_for(r.state()));
}

TEST(SessionMachine, ASecondStopKillsAtOnce) {
  Row r;
  r.start_container();
  r.feed(r.done());
  r.stop();
  auto actions = r.feed(event::ForceStop{});
  ASSERT_TRUE(has<action::Signal>(actions));
  EXPECT_TRUE(all_of<action::Signal>(actions).front().kill);
}

// --- pause (an operator's, through the registry) ----------------------------------------------

TEST(SessionMachine, APauseStopsTheContainerKeepsItsMessagesTriesAndStartsNothingUntilResumed) {
  Row r;
  r.start_container();
  r.feed(r.done());
  auto actions = r.feed(event::Paused{});
  EXPECT_TRUE(said(actions, Notice::session_paused));
  auto stopped = said(actions, Notice::container_stopped);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->reason, "paused");
  ASSERT_TRUE(has<action::Signal>(actions));
  EXPECT_FALSE(all_of<action::Signal>(actions).front().kill);  // SIGTERM first...
  EXPECT_EQ(armed(actions, Timer::kill_grace), 10s);           // ...SIGKILL after the grace
  r.feed(event::Exited{"killed by signal 15", false});
  auto check = check_of(r.feed(event::Ended{}));
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->cleanup);
  EXPECT_FALSE(check->retry_orphans);  // the interrupted message keeps its tries
  auto cleanup = r.done();
  cleanup.cleanup = true;
  actions = r.feed(cleanup);
  EXPECT_FALSE(said(actions, Notice::session_backoff)) << "a pause is no bad run";
  EXPECT_EQ(r.state().start_failures, 0);
  auto after = check_of(actions);
  ASSERT_TRUE(after);  // its acks are still synced...
  EXPECT_FALSE(after->may_start);  // ...but nothing starts

  // Work due while paused: no start, and no due timer that would only wake it for nothing.
  auto due = r.done();
  due.start_ready = true;  // a check dispatched before the pause handed the lock over
  due.next_due = r.wall() + 5min;
  actions = r.feed(due);
  EXPECT_FALSE(has<action::Spawn>(actions));
  EXPECT_FALSE(armed(actions, Timer::due));
  EXPECT_EQ(r.state().stage, Stage::idle);
  auto triggered = check_of(r.feed(event::Triggered{}));
  ASSERT_TRUE(triggered);
  EXPECT_FALSE(triggered->may_start);
  r.feed(r.done());

  actions = r.feed(event::Resumed{});
  EXPECT_TRUE(said(actions, Notice::session_resumed));
  auto resumed = check_of(actions);
  ASSERT_TRUE(resumed);
  EXPECT_TRUE(resumed->may_start);
  auto ready = r.done();
  ready.start_ready = true;
  EXPECT_TRUE(has<action::Spawn>(r.feed(ready)));
}

TEST(SessionMachine, APauseEndsABackoffAndIsSaidOnce) {
  Row r;
  r.start_container();
  r.feed(r.done());
  r.end_run();
  ASSERT_EQ(r.state().stage, Stage::backing_off);
  auto actions = r.feed(event::Paused{});
  EXPECT_EQ(r.state().stage, Stage::idle);
  EXPECT_FALSE(r.state().backoff_until);
  bool cancelled = false;
  for (const auto& c : all_of<action::Cancel>(actions)) cancelled |= c.timer == Timer::backoff;
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(r.feed(event::Paused{}).empty()) << "a second listing that says paused changes nothing";
  EXPECT_TRUE(r.feed(event::Resumed{}).size() > 0);
  EXPECT_TRUE(r.feed(event::Resumed{}).empty());
}

TEST(SessionMachine, AContainerKilledAsStuckWhilePausedIsStillABadRun) {
  Row r;
  r.start_container();
  r.feed(r.looked(heartbeat_at(r.wall()), true));
  r.advance(31min);
  r.feed(event::Triggered{});
  r.feed(r.looked(heartbeat_at(r.wall() - 31min), true));
  ASSERT_EQ(r.state().stage, Stage::stopping);  // killed at the ceiling
  r.feed(event::Paused{});
  r.feed(event::Exited{"killed by signal 15", false});
  auto check = check_of(r.feed(event::Ended{}));
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->retry_orphans) << "its stuck message's try counts";
}

TEST(SessionMachine, APausedSessionIsStillStoppedByTheSupervisorsStop) {
  Row r;
  r.feed(event::Paused{});
  r.stop();
  EXPECT_FALSE(stop_waits_for(r.state()));
  Row running;
  running.start_container();
  running.feed(running.done());
  running.feed(event::Paused{});
  running.stop();
  EXPECT_TRUE(stop_waits_for(running.state()));
}

}  // namespace
}  // namespace hostsweep::policy
