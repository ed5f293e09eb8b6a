#include "policy/retry_policy.hpp"

#include <gtest/gtest.h>

namespace hostsweep::policy {
namespace {

using namespace std::chrono;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

TEST(RetryPolicy, BackoffDoublesFromFiveSecondsAndIsCapped) {
  RetryPolicy p;
  EXPECT_EQ(retry_backoff(p, 0), 5s);
  EXPECT_EQ(retry_backoff(p, 1), 10s);
  EXPECT_EQ(retry_backoff(p, 4), 80s);
  EXPECT_EQ(retry_backoff(p, 20), 1h);
  EXPECT_EQ(retry_backoff(p, 2'000'000'000), 1h);
  p.backoff_cap = 15s;
  EXPECT_EQ(retry_backoff(p, 2), 15s);
  p.backoff_base = 0ms;
  EXPECT_EQ(retry_backoff(p, 2'000'000'000), 0ms);
}

TEST(RetryPolicy, RetriesAPendingMessage) {
  auto d = decide_retry({}, {"m", MessageStatus::pending, 2, std::nullopt}, kNow);
  ASSERT_EQ(d.action, RetryAction::retry) << d.reason;
  EXPECT_EQ(d.new_tries, 3);
  EXPECT_EQ(d.backoff, 20s);
  EXPECT_EQ(d.process_after, kNow + 20s);
}

TEST(RetryPolicy, FailsAtMaxTries) {
  EXPECT_EQ(decide_retry({}, {"m", MessageStatus::pending, 5, std::nullopt}, kNow).action, RetryAction::fail);
  EXPECT_EQ(decide_retry({}, {"m", MessageStatus::pending, 4, std::nullopt}, kNow).action, RetryAction::retry);
  RetryPolicy p;
  p.max_tries = 1;
  EXPECT_EQ(decide_retry(p, {"m", MessageStatus::pending, 1, std::nullopt}, kNow).action, RetryAction::fail);
}

// FAILURE-MODES.md 3: a retry already scheduled is not pushed further out.
TEST(RetryPolicy, FailureMode3_AlreadyRescheduledIsLeftAlone) {
  auto d = decide_retry({}, {"m", MessageStatus::pending, 1, format_sqlite(kNow + 10s)}, kNow);
  EXPECT_EQ(d.action, RetryAction::leave) << d.reason;
  // ...and once that time has come, the failure of that attempt is retried.
  EXPECT_EQ(decide_retry({}, {"m", MessageStatus::pending, 1, format_iso8601(kNow)}, kNow).action, RetryAction::retry);
}

TEST(RetryPolicy, UnparseableProcessAfterIsOverwrittenByTheRetry) {
  EXPECT_EQ(decide_retry({}, {"m", MessageStatus::pending, 0, "soon"}, kNow).action, RetryAction::retry);
}

TEST(RetryPolicy, SettledMessagesAreNotRetried) {
  for (auto status : {MessageStatus::completed, MessageStatus::failed, MessageStatus::paused, MessageStatus::unknown}) {
    EXPECT_EQ(decide_retry({}, {"m", status, 0, std::nullopt}, kNow).action, RetryAction::leave) << to_string(status);
  }
}

}  // namespace
}  // namespace hostsweep::policy
