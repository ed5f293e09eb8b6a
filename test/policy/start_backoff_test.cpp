#include "policy/start_backoff.hpp"

#include <gtest/gtest.h>

namespace hostsweep::policy {
namespace {

using namespace std::chrono;

TEST(StartBackoff, BadRunsDoubleUpToTheCap) {
  StartBackoffPolicy p;  // 1s, cap 5m, reset after 1m
  ContainerRun quick_exit{true, false, 200ms};
  auto b = next_start_backoff(p, 0, quick_exit);
  EXPECT_EQ(b.failures, 1);
  EXPECT_EQ(b.delay, 1s);
  b = next_start_backoff(p, b.failures, quick_exit);
  EXPECT_EQ(b.delay, 2s);
  b = next_start_backoff(p, 3, quick_exit);
  EXPECT_EQ(b.delay, 8s);
  EXPECT_EQ(next_start_backoff(p, 40, quick_exit).delay, 5min);
  EXPECT_EQ(next_start_backoff(p, 2'000'000'000, quick_exit).delay, 5min);
}

TEST(StartBackoff, AFailedStartCountsAsABadRun) {
  EXPECT_EQ(next_start_backoff({}, 0, {false, false, 0ms}).delay, 1s);
  EXPECT_EQ(next_start_backoff({}, 0, {false, false, 10min}).failures, 1);
}

TEST(StartBackoff, WorkOrAlongUptimeResets) {
  EXPECT_EQ(next_start_backoff({}, 7, {true, true, 10ms}).failures, 0);
  EXPECT_EQ(next_start_backoff({}, 7, {true, true, 10ms}).delay, 0ms);
  EXPECT_EQ(next_start_backoff({}, 7, {true, false, 1min}).failures, 0);
  EXPECT_EQ(next_start_backoff({}, 7, {true, false, 59s}).failures, 8);
}

}  // namespace
}  // namespace hostsweep::policy
