#include "hostsweep/policy/sweep_plan.hpp"

#include <gtest/gtest.h>

namespace hostsweep::policy {
namespace {

using namespace std::chrono;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

MessageState pending(const std::string& id, int tries = 0) { return {id, MessageStatus::pending, tries, std::nullopt}; }
constexpr auto kProcessing = AckStatus::processing;
constexpr auto kCompleted = AckStatus::completed;

TEST(SweepPlan, SettlementsOnlyTouchPendingRowsWithFinalAcks) {
  std::vector<Ack> acks = {{"a", kCompleted, "t"}, {"b", AckStatus::failed, "t"}, {"c", kProcessing, "t"},
                           {"d", kCompleted, "t"}, {"e", AckStatus::unknown, "t"}, {"ghost", kCompleted, "t"}};
  std::map<std::string, MessageState> rows = {{"a", pending("a")}, {"b", pending("b")}, {"c", pending("c")},
                                              {"d", {"d", MessageStatus::completed, 0, std::nullopt}}, {"e", pending("e")}};
  auto s = decide_settlements(acks, rows);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].message_id, "a");
  EXPECT_EQ(s[0].status, MessageStatus::completed);
  EXPECT_EQ(s[1].message_id, "b");
  EXPECT_EQ(s[1].status, MessageStatus::failed);
}

TEST(SweepPlan, CleanupComesBeforeWakeSoACrashedMessageIsCounted) {
  SweepFacts f;
  f.now = kNow;
  f.acks = {{"m", kProcessing, format_sqlite(kNow - 1h)}};
  f.acked_messages = {{"m", pending("m", 1)}};
  f.due_ids = {"m"};
  auto plan = plan_sweep({}, f);
  ASSERT_EQ(plan.retries.size(), 1u);
  EXPECT_EQ(plan.retries[0].decision.action, RetryAction::retry);
  EXPECT_EQ(plan.retries[0].decision.new_tries, 2);
  EXPECT_EQ(plan.orphan_claims, std::vector<std::string>{"m"});
  EXPECT_TRUE(plan.due_ids.empty());
  EXPECT_FALSE(plan.wake);  // the retry is not due yet...
  EXPECT_EQ(plan.next_due, kNow + 10s);  // ...and its time is armed
}

TEST(SweepPlan, ARunningContainerIsJudgedNotCleanedUp) {
  SweepFacts f;
  f.now = kNow;
  f.container_running = true;
  f.container_started_at = kNow - 10min;
  f.heartbeat_mtime = kNow - 5min;
  f.acks = {{"m", kProcessing, format_sqlite(kNow - 4min)}};
  f.acked_messages = {{"m", pending("m")}};
  f.due_ids = {"m", "n"};
  auto plan = plan_sweep({}, f);
  EXPECT_TRUE(plan.retries.empty());
  EXPECT_TRUE(plan.orphan_claims.empty());
  ASSERT_TRUE(plan.stuck);
  EXPECT_EQ(plan.stuck->verdict, StuckVerdict::kill_claim_stuck);
  EXPECT_FALSE(plan.wake);  // it already runs
  EXPECT_EQ(plan.due_ids.size(), 2u);
}

TEST(SweepPlan, SettledMessagesAreNoLongerDue) {
  SweepFacts f;
  f.now = kNow;
  f.acks = {{"m", kCompleted, format_sqlite(kNow)}};
  f.acked_messages = {{"m", pending("m")}};
  f.due_ids = {"m"};
  auto plan = plan_sweep({}, f);
  EXPECT_TRUE(plan.due_ids.empty());
  EXPECT_FALSE(plan.wake);
}

TEST(SweepPlan, MaxTriesFailsInsteadOfWaking) {
  SweepFacts f;
  f.now = kNow;
  f.acks = {{"m", kProcessing, format_sqlite(kNow - 1min)}};
  f.acked_messages = {{"m", pending("m", 5)}};
  f.due_ids = {"m"};
  auto plan = plan_sweep({}, f);
  ASSERT_EQ(plan.retries.size(), 1u);
  EXPECT_EQ(plan.retries[0].decision.action, RetryAction::fail);
  EXPECT_FALSE(plan.wake);
}

}  // namespace
}  // namespace hostsweep::policy
