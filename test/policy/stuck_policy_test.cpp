#include "policy/stuck_policy.hpp"

#include <gtest/gtest.h>

namespace hostsweep::policy {
namespace {

using namespace std::chrono;

// A container started at 12:00:00.400 UTC; the reference's default windows, grace 3 min.
const TimePoint kStart = TimePoint{sys_days{year{2026} / 3 / 8} + 12h + 400ms};
const StuckPolicy kPolicy{};

std::string at(Duration since_start) { return format_sqlite(kStart + since_start); }

LivenessFacts facts_at(Duration since_start) {
  LivenessFacts f;
  f.container_started_at = kStart;
  f.now = kStart + since_start;
  return f;
}

AckFact claim(const std::string& id, Duration since_start) { return {id, "processing", at(since_start)}; }

// The reference's decision table, each row with this project's answer.
TEST(StuckPolicy, FreshHeartbeatIsHealthy) {
  auto f = facts_at(40min);
  f.heartbeat_mtime = kStart + 39min;
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::healthy) << d.reason;
  EXPECT_EQ(d.deadline, kStart + 39min + 30min);
}

TEST(StuckPolicy, StaleHeartbeatPastCeilingIsKilled) {
  auto f = facts_at(45min);
  f.heartbeat_mtime = kStart + 10min;
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::kill_ceiling) << d.reason;
  EXPECT_EQ(d.silence, 35min);
  EXPECT_EQ(d.window, 30min);
}

TEST(StuckPolicy, NoHeartbeatFileIsHealthyWhileInsideTheCeiling) {
  auto d = decide_stuck(kPolicy, facts_at(29min));
  EXPECT_EQ(d.verdict, StuckVerdict::healthy) << d.reason;
  EXPECT_EQ(d.deadline, kStart + 30min);
}

// (deliberate) a container that never shows life is reaped after the ceiling.
TEST(StuckPolicy, NeverAliveContainerIsReapedAtTheCeiling) {
  auto d = decide_stuck(kPolicy, facts_at(31min));
  EXPECT_EQ(d.verdict, StuckVerdict::kill_ceiling) << d.reason;
}

TEST(StuckPolicy, ClaimPastToleranceWithSilentHeartbeatIsKilled) {
  auto f = facts_at(10min);
  f.heartbeat_mtime = kStart + 5min;
  f.acks = {claim("m1", 6min)};
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::kill_claim_stuck) << d.reason;
  EXPECT_EQ(d.message_id, "m1");
  EXPECT_EQ(d.window, 60s);
}

TEST(StuckPolicy, HeartbeatAfterTheClaimIsHealthy) {
  auto f = facts_at(10min);
  f.acks = {claim("m1", 6min)};
  f.heartbeat_mtime = kStart + 6min + 30s;
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::healthy) << d.reason;
  EXPECT_EQ(d.deadline, kStart + 6min + 30s + 30min);  // only the ceiling is left to trip
}

TEST(StuckPolicy, ClaimBelowToleranceIsHealthyAndArmsItsDeadline) {
  auto f = facts_at(6min + 30s);
  f.heartbeat_mtime = kStart + 5min;
  f.acks = {claim("m1", 6min)};
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::healthy) << d.reason;
  // The claim's time is whole seconds, "12:06:00": it may have been made as late as
  // 12:06:00.999, and is judged by that, so truncation never makes it look older.
  EXPECT_EQ(d.deadline, floor<seconds>(kStart + 6min) + 999ms + 60s);
}

TEST(StuckPolicy, UnparseableClaimTimeNeverKills) {
  auto f = facts_at(2h);
  f.heartbeat_mtime = kStart + 1h + 50min;
  f.acks = {{"m1", "processing", "not a time"}, {"m2", "processing", ""}};
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::healthy) << d.reason;
}

TEST(StuckPolicy, DeclaredToolTimeoutWidensBothWindows) {
  auto f = facts_at(50min);
  f.heartbeat_mtime = kStart + 1min;
  f.acks = {claim("m1", 2min)};
  f.tool = ToolFact{"Bash", 3'600'000, at(2min), at(2min)};  // any tool, declared 1 h
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::healthy) << d.reason;
  EXPECT_EQ(d.declared_timeout, 1h);

  f.now = kStart + 2min + 1h + 1s;  // past the widened windows
  d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::kill_ceiling) << d.reason;
  EXPECT_EQ(d.window, 1h);
}

TEST(StuckPolicy, AnyToolWidensNotOnlyBash) {
  auto f = facts_at(5min);
  f.heartbeat_mtime = kStart + 1min;
  f.acks = {claim("m1", 2min)};
  f.tool = ToolFact{"WebFetch", 600'000, at(2min), at(2min)};
  EXPECT_EQ(decide_stuck(kPolicy, f).verdict, StuckVerdict::healthy);
}

TEST(StuckPolicy, DeclaredTimeoutIsCappedSoNoContainerIsUnkillable) {
  auto f = facts_at(2h + 31min);
  f.heartbeat_mtime = kStart + 1min;
  f.tool = ToolFact{"Bash", std::int64_t{1} << 50, at(1min), at(1min)};
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::kill_ceiling) << d.reason;
  EXPECT_EQ(d.window, 2h);
}

TEST(StuckPolicy, ToolStateLeftByAPredecessorDoesNotWiden) {
  auto f = facts_at(10min);
  f.heartbeat_mtime = kStart + 5min;
  f.acks = {claim("m1", 6min)};
  f.tool = ToolFact{"Bash", 3'600'000, at(-1h), at(-1h)};
  EXPECT_EQ(decide_stuck(kPolicy, f).verdict, StuckVerdict::kill_claim_stuck);
}

// FAILURE-MODES.md 1: the predecessor's stale heartbeat never judges the new container.
TEST(StuckPolicy, FailureMode1_StaleHeartbeatOfPredecessorIsIgnored) {
  auto f = facts_at(1s);
  f.heartbeat_mtime = kStart - 3h;
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::healthy) << d.reason;
  EXPECT_EQ(d.deadline, kStart + 30min);
}

// FAILURE-MODES.md 2: hours-old orphan claims with no heartbeat since never count.
TEST(StuckPolicy, FailureMode2_OrphanClaimsOfPredecessorAreIgnored) {
  auto f = facts_at(1s);
  f.acks = {claim("m1", -3h), claim("m2", -2h)};
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::healthy) << d.reason;
  EXPECT_NE(d.reason.find("2 claim(s) older than this container"), std::string::npos) << d.reason;
}

// FAILURE-MODES.md 5: a claim then a long silent set-up is covered by the start-up grace.
TEST(StuckPolicy, FailureMode5_SlowStartIsGraced) {
  auto f = facts_at(2min + 30s);
  f.acks = {claim("m1", 1s)};
  auto d = decide_stuck(kPolicy, f);
  EXPECT_EQ(d.verdict, StuckVerdict::healthy) << d.reason;
  EXPECT_EQ(d.deadline, kStart + 3min);

  f.now = kStart + 3min + 1ms;  // the grace is bounded
  EXPECT_EQ(decide_stuck(kPolicy, f).verdict, StuckVerdict::kill_claim_stuck);
}

TEST(StuckPolicy, GraceEndsWithTheFirstHeartbeat) {
  auto f = facts_at(2min);
  f.heartbeat_mtime = kStart + 1s;
  f.acks = {claim("m1", 5s)};
  EXPECT_EQ(decide_stuck(kPolicy, f).verdict, StuckVerdict::kill_claim_stuck);
}

TEST(StuckPolicy, ClaimInTheStartSecondIsStillWatched) {
  // 12:00:00.400 start, claim written as "12:00:00": it is this container's claim.
  auto f = facts_at(10min);
  f.acks = {claim("m1", 0ms)};
  EXPECT_EQ(decide_stuck(kPolicy, f).verdict, StuckVerdict::kill_claim_stuck);
}

TEST(StuckPolicy, LaterAckIsASignOfLife) {
  auto f = facts_at(10min);
  f.heartbeat_mtime = kStart + 1s;
  f.acks = {claim("m1", 5min), {"m0", "completed", at(9min)}};
  EXPECT_EQ(decide_stuck(kPolicy, f).verdict, StuckVerdict::healthy);
}

TEST(StuckPolicy, VerdictNames) {
  EXPECT_STREQ(to_string(StuckVerdict::healthy), "healthy");
  EXPECT_STREQ(to_string(StuckVerdict::kill_ceiling), "ceiling");
  EXPECT_STREQ(to_string(StuckVerdict::kill_claim_stuck), "claim-stuck");
}

}  // namespace
}  // namespace hostsweep::policy
