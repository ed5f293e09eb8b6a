// Pausing a session (issue 10): the registry row says `paused`, written by another process as
// `hostsweep session pause` writes it; the supervisor, told by inotify on the registry, stops
// the session's container, keeps its interrupted message's tries, starts nothing while it is
// paused (whatever is due, whatever a sweep finds), and starts again once it is resumed.
#include <gtest/gtest.h>

#include "store/outbound_store.hpp"
#include "support/supervisor_harness.hpp"

namespace hostsweep::testing {
namespace {

using supervisor::EventKind;
using supervisor::Phase;

std::optional<supervisor::SessionView> view_of(SupervisorHarness& h, const std::string& id) {
  for (auto& v : h.supervisor().sessions()) {
    if (v.session_id == id) return v;
  }
  return std::nullopt;
}

TEST(Pause, APausedSessionsContainerIsStoppedItsMessageWaitsAndResumeCompletesIt) {
  auto options = fast_options();
  options.policy.stuck.claim_tolerance = 30s;  // the hang is not caught before the pause
  options.policy.stuck.startup_grace = 30s;
  SupervisorHarness h(options);
  auto s = h.create_session("s1", {"hang-after-claim", "normal"});
  h.create_session("other");
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for([&] { return !store::read_outbound(s.files).acks.empty(); })) << h.story();

  // While it runs, the live view says what runs and what it waits for (its liveness deadline,
  // once a check after its start has returned).
  ASSERT_TRUE(h.wait_for([&] {
    auto v = view_of(h, "s1");
    return v && v->next_deadline.has_value();
  })) << h.story();
  auto running = view_of(h, "s1");
  ASSERT_TRUE(running);
  EXPECT_EQ(running->phase, Phase::running);
  EXPECT_GT(running->pid, 0);
  EXPECT_TRUE(running->container_started);
  ASSERT_TRUE(running->next_deadline);
  EXPECT_EQ(running->next_deadline_kind, supervisor::DeadlineKind::liveness);
  EXPECT_FALSE(running->paused);

  ASSERT_TRUE(store::set_session_paused(h.data(), "s1", true));
  h.wait_for(EventKind::session_paused, "s1");
  auto stopped = h.wait_for(EventKind::container_stopped, "s1");
  EXPECT_EQ(stopped.reason, "paused");
  ASSERT_TRUE(h.wait_for([&] {
    auto v = view_of(h, "s1");
    return v && v->phase == Phase::paused;
  })) << h.story();
  auto paused = view_of(h, "s1");
  EXPECT_TRUE(paused->paused);
  EXPECT_EQ(paused->pid, 0);
  EXPECT_FALSE(paused->container_started);
  EXPECT_EQ(h.message("s1", id).status, policy::MessageStatus::pending);
  EXPECT_EQ(h.message("s1", id).tries, 0) << "a pause is not the message's fault";
  EXPECT_TRUE(policy::claimed_ids(store::read_outbound(s.files).acks).empty());
  EXPECT_EQ(h.count(EventKind::session_backoff, "s1"), 0) << h.story();

  // Nothing starts while paused: its due message, a new one, a sweep.
  auto second = h.enqueue("s1");
  h.supervisor().sweep_now();
  ASSERT_TRUE(h.settle()) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 1) << h.story();
  EXPECT_EQ(h.message("s1", second).status, policy::MessageStatus::pending);
  // The other session is not affected.
  auto other = h.enqueue("other");
  ASSERT_TRUE(h.wait_for_status("other", other, "completed")) << h.story();

  ASSERT_TRUE(store::set_session_paused(h.data(), "s1", false));
  h.wait_for(EventKind::session_resumed, "s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  ASSERT_TRUE(h.wait_for_status("s1", second, "completed")) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 2) << h.story();
  EXPECT_EQ(h.count(EventKind::container_killed, "s1"), 0) << h.story();
}

TEST(Pause, ASessionPausedBeforeTheSupervisorStartsIsNeverStartedUntilResumed) {
  SupervisorHarness h;
  h.create_session("s1");
  ASSERT_TRUE(store::set_session_paused(h.data(), "s1", true));
  auto id = h.enqueue("s1");
  h.start();
  h.wait_for(EventKind::session_paused, "s1");
  ASSERT_TRUE(h.settle()) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 0) << h.story();
  auto v = view_of(h, "s1");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->phase, Phase::paused);
  EXPECT_FALSE(v->next_deadline) << "no timer wakes a paused session for its due work";

  ASSERT_TRUE(store::set_session_paused(h.data(), "s1", false));
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
}

}  // namespace
}  // namespace hostsweep::testing
