#include "policy/sweep_plan.hpp"

#include <gtest/gtest.h>

namespace hostsweep::policy {
namespace {

using namespace std::chrono;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

MessageState row(const std::string& id, MessageStatus status, int tries = 0) { return {id, status, tries, std::nullopt}; }
MessageState pending(const std::string& id, int tries = 0) { return row(id, MessageStatus::pending, tries); }
Ack ack(const std::string& id, AckStatus status, const std::string& changed = "t") { return {id, status, changed}; }
PendingTrigger due_now(const std::string& id) { return {id, std::nullopt, false}; }

TEST(SweepPlan, SettlementsOnlyTouchPendingRowsWithFinalAcks) {
  std::vector<Ack> acks = {ack("a", AckStatus::completed), ack("b", AckStatus::failed),   ack("c", AckStatus::processing),
                           ack("d", AckStatus::completed), ack("e", AckStatus::unknown), ack("ghost", AckStatus::completed),
                           ack("f", AckStatus::completed)};
  std::map<std::string, MessageState> rows = {{"a", pending("a")}, {"b", pending("b")}, {"c", pending("c")},
                                              {"d", row("d", MessageStatus::completed)}, {"e", pending("e")},
                                              {"f", row("f", MessageStatus::unknown)}};
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
  f.acks = {ack("m", AckStatus::processing, format_sqlite(kNow - 1h))};
  f.inbound.acked_messages = {{"m", pending("m", 1)}};
  f.inbound.state.pending = {due_now("m")};
  auto plan = plan_sweep({}, f);
  ASSERT_EQ(plan.retries.size(), 1u);
  EXPECT_EQ(plan.retries[0].decision.action, RetryAction::retry);
  EXPECT_EQ(plan.retries[0].decision.new_tries, 2);
  EXPECT_EQ(plan.orphan_claims, std::vector<std::string>{"m"});
  EXPECT_TRUE(plan.due_ids.empty());
  EXPECT_FALSE(plan.wake);               // the retry is not due yet...
  EXPECT_EQ(plan.next_due, kNow + 10s);  // ...and its time is armed
}

TEST(SweepPlan, AtShutdownTheClaimGoesAndTheMessageKeepsItsTries) {
  SweepFacts f;
  f.now = kNow;
  f.retry_orphans = false;
  f.acks = {ack("m", AckStatus::processing, format_sqlite(kNow - 1h))};
  f.inbound.acked_messages = {{"m", pending("m", 1)}};
  f.inbound.state.pending = {due_now("m")};
  auto plan = plan_sweep({}, f);
  EXPECT_TRUE(plan.retries.empty());
  EXPECT_EQ(plan.orphan_claims, std::vector<std::string>{"m"});
  EXPECT_EQ(plan.due_ids, std::vector<std::string>{"m"});
}

TEST(SweepPlan, ARunningContainerIsJudgedNotCleanedUp) {
  SweepFacts f;
  f.now = kNow;
  f.container_running = true;
  f.container_started_at = kNow - 10min;
  f.heartbeat_mtime = kNow - 5min;
  f.acks = {ack("m", AckStatus::processing, format_sqlite(kNow - 4min))};
  f.inbound.acked_messages = {{"m", pending("m")}};
  f.inbound.state.pending = {due_now("m"), due_now("n")};
  auto plan = plan_sweep({}, f);
  EXPECT_TRUE(plan.retries.empty());
  EXPECT_TRUE(plan.orphan_claims.empty());
  ASSERT_TRUE(plan.stuck);
  EXPECT_EQ(plan.stuck->verdict, StuckVerdict::kill_claim_stuck);
  EXPECT_FALSE(plan.wake);  // it already runs
  EXPECT_EQ(plan.due_ids.size(), 2u);
}

TEST(SweepPlan, SettledMessagesAreNoLongerDueNorNext) {
  SweepFacts f;
  f.now = kNow;
  f.acks = {ack("m", AckStatus::completed, format_sqlite(kNow)), ack("later", AckStatus::failed, format_sqlite(kNow))};
  f.inbound.acked_messages = {{"m", pending("m")}, {"later", pending("later")}};
  f.inbound.state.pending = {due_now("m"), {"later", kNow + 1h, false}, {"other", kNow + 2h, false}};
  auto plan = plan_sweep({}, f);
  EXPECT_TRUE(plan.due_ids.empty());
  EXPECT_FALSE(plan.wake);
  EXPECT_EQ(plan.next_due, kNow + 2h);  // "later" settled: its time is not armed
}

TEST(SweepPlan, MaxTriesFailsInsteadOfWaking) {
  SweepFacts f;
  f.now = kNow;
  f.acks = {ack("m", AckStatus::processing, format_sqlite(kNow - 1min))};
  f.inbound.acked_messages = {{"m", pending("m", 5)}};
  f.inbound.state.pending = {due_now("m")};
  auto plan = plan_sweep({}, f);
  ASSERT_EQ(plan.retries.size(), 1u);
  EXPECT_EQ(plan.retries[0].decision.action, RetryAction::fail);
  EXPECT_FALSE(plan.wake);
}

TEST(SweepPlan, AClaimOfAnUnknownIdOrAnUnknownStatusOnlyLosesItsClaim) {
  SweepFacts f;
  f.now = kNow;
  f.acks = {ack("ghost", AckStatus::processing), ack("odd", AckStatus::processing)};
  f.inbound.acked_messages = {{"odd", row("odd", MessageStatus::unknown)}};
  auto plan = plan_sweep({}, f);
  EXPECT_EQ(plan.orphan_claims, (std::vector<std::string>{"ghost", "odd"}));
  ASSERT_EQ(plan.retries.size(), 1u);
  EXPECT_EQ(plan.retries[0].message_id, "odd");
  EXPECT_EQ(plan.retries[0].decision.action, RetryAction::leave);
}

TEST(SweepPlan, ARecurringRowThisPassFinishesSchedulesItsSeries) {
  SweepFacts f;
  f.now = kNow;
  f.acks = {ack("wakes", AckStatus::completed), ack("context", AckStatus::completed)};
  auto recurring = [](const std::string& id) {
    auto r = pending(id);
    r.recurrence = "0 * * * *";
    return r;
  };
  f.inbound.acked_messages = {{"wakes", recurring("wakes")}, {"context", recurring("context")}};
  f.inbound.state.pending = {due_now("wakes")};  // "context" has trigger = 0
  f.inbound.finished_recurring = {{"earlier", "*/20 * * * *", true}};
  auto plan = plan_sweep({}, f);
  ASSERT_EQ(plan.fan_outs.size(), 3u);
  EXPECT_EQ(plan.fan_outs[0].message_id, "earlier");
  EXPECT_EQ(plan.fan_outs[0].next, kNow + 20min);
  EXPECT_EQ(plan.fan_outs[1].message_id, "context");
  EXPECT_EQ(plan.fan_outs[2].message_id, "wakes");
  EXPECT_EQ(plan.fan_outs[2].next, kNow + 1h);
  EXPECT_TRUE(plan.due_ids.empty());
  EXPECT_EQ(plan.next_due, kNow + 20min);
}

TEST(SweepPlan, AContextOnlySeriesArmsNoWake) {
  SweepFacts f;
  f.now = kNow;
  f.inbound.finished_recurring = {{"context", "*/20 * * * *", false}};
  auto plan = plan_sweep({}, f);
  ASSERT_EQ(plan.fan_outs.size(), 1u);
  EXPECT_FALSE(plan.next_due);
}

}  // namespace
}  // namespace hostsweep::policy
