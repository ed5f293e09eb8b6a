#include "hostsweep/policy/timestamp.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace hostsweep::policy {
namespace {

using namespace std::chrono;

// 2026-03-08T07:00:00Z, worked out by hand: 20520 days after the epoch.
constexpr TimePoint kMarch8 = TimePoint{days{20520} + hours{7}};

TEST(Timestamp, EpochDaysAreRight) {
  EXPECT_EQ(sys_days{year{2026} / 3 / 8}.time_since_epoch().count(), 20520);
}

TEST(Timestamp, ParsesEveryProtocolForm) {
  EXPECT_EQ(parse_timestamp("2026-03-08 07:00:00"), kMarch8);
  EXPECT_EQ(parse_timestamp("2026-03-08T07:00:00"), kMarch8);
  EXPECT_EQ(parse_timestamp("2026-03-08T07:00:00Z"), kMarch8);
  EXPECT_EQ(parse_timestamp("2026-03-08T07:00:00.000Z"), kMarch8);
  EXPECT_EQ(parse_timestamp("2026-03-08T07:00:00.250Z"), kMarch8 + 250ms);
  EXPECT_EQ(parse_timestamp("2026-03-08 07:00:00.5"), kMarch8 + 500ms);
  EXPECT_EQ(parse_timestamp("2026-03-08T07:00:00.123456Z"), kMarch8 + 123ms);
  EXPECT_EQ(parse_timestamp("2026-03-08T08:00:00+01:00"), kMarch8);
  EXPECT_EQ(parse_timestamp("2026-03-08T08:00:00+0100"), kMarch8);
  EXPECT_EQ(parse_timestamp("2026-03-08T01:30:00-05:30"), kMarch8);
  EXPECT_EQ(parse_timestamp("2026-03-08T07:00Z"), kMarch8);
}

TEST(Timestamp, OffsetsCrossDayAndYearBoundaries) {
  EXPECT_EQ(parse_timestamp("2026-01-01T00:30:00+01:00"), parse_timestamp("2025-12-31T23:30:00Z"));
  EXPECT_EQ(parse_timestamp("2024-02-29 12:00:00"), TimePoint{sys_days{year{2024} / 2 / 29} + 12h});
}

TEST(Timestamp, RejectsMalformedAndOutOfRange) {
  for (const char* bad : {"", "yesterday", "2026-03-08", "2026-3-8 07:00:00", "2026-13-01 00:00:00",
                          "2026-02-30 00:00:00", "2025-02-29 00:00:00", "2026-03-08 24:00:00",
                          "2026-03-08 07:60:00", "2026-03-08 07:00:60", "2026-03-08 07:00:00 ",
                          "2026-03-08T07:00:00+24:00", "2026-03-08T07:00:00+01", "2026-03-08T07:00:00.Z",
                          "2026-03-08X07:00:00", "2026-03-08T07:00:00ZZ", "1700000000"}) {
    EXPECT_FALSE(parse_timestamp(bad).has_value()) << bad;
  }
}

TEST(Timestamp, LatestInstantCoversTheTextsPrecision) {
  EXPECT_EQ(parse_timestamp_latest("2026-03-08 07:00:00"), kMarch8 + 999ms);
  EXPECT_EQ(parse_timestamp_latest("2026-03-08T08:00:00+01:00"), kMarch8 + 999ms);
  EXPECT_EQ(parse_timestamp_latest("2026-03-08T07:00Z"), kMarch8 + 59999ms);
  EXPECT_EQ(parse_timestamp_latest("2026-03-08T07:00:00.250Z"), kMarch8 + 250ms);
  EXPECT_EQ(parse_timestamp_latest("2026-03-08T07:00:00.000Z"), kMarch8);
  EXPECT_FALSE(parse_timestamp_latest("garbage"));
}

TEST(Timestamp, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(format_iso8601(kMarch8 + 42ms), "2026-03-08T07:00:00.042Z");
  EXPECT_EQ(format_sqlite(kMarch8 + 42ms), "2026-03-08 07:00:00");
  EXPECT_EQ(format_iso8601(TimePoint{}), "1970-01-01T00:00:00.000Z");
}

TEST(Timestamp, RoundTrips) {
  for (TimePoint t : {kMarch8, kMarch8 + 999ms, TimePoint{sys_days{year{2099} / 12 / 31} + 86399999ms}}) {
    EXPECT_EQ(parse_timestamp(format_iso8601(t)), t);
  }
}

// The parser must not consult the process's zone: set one far from UTC and parse again.
TEST(Timestamp, IgnoresTheLocalZone) {
  const char* old = std::getenv("TZ");
  std::string saved = old ? old : "";
  ::setenv("TZ", "Asia/Kathmandu", 1);
  ::tzset();
  EXPECT_EQ(parse_timestamp("2026-03-08 07:00:00"), kMarch8);
  EXPECT_EQ(format_iso8601(kMarch8), "2026-03-08T07:00:00.000Z");
  if (old) ::setenv("TZ", saved.c_str(), 1);
  else ::unsetenv("TZ");
  ::tzset();
}

TEST(Duration, ParsesUnitsAndCombinations) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("5s"), 5s);
  EXPECT_EQ(parse_duration("30m"), 30min);
  EXPECT_EQ(parse_duration("2h"), 2h);
  EXPECT_EQ(parse_duration("1d"), 24h);
  EXPECT_EQ(parse_duration("1h30m"), 90min);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("0"), 0ms);
  for (const char* bad : {"", "5", "-5s", "5x", "s", "1.s", "5 s", "99999999999999999999h"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

// Found by fuzz_duration (fuzz/corpus/duration/crash-overflow-*): a count within the 2^52 ms
// limit times a unit's milliseconds overflowed std::int64_t, undefined behaviour.
TEST(Duration, HugeCountsAreRejectedWithoutOverflow) {
  for (const char* huge : {"450599627370497m.s", "4503599627370496d", "4503599627370496h", "4503599627370496m",
                           "4503599627370496s"}) {
    EXPECT_FALSE(parse_duration(huge).has_value()) << huge;
  }
  EXPECT_EQ(parse_duration("4503599627370496ms"), Duration{std::int64_t{1} << 52});  // the limit itself
  EXPECT_EQ(parse_duration("52125d"), days{52125});
}

TEST(Duration, FormatsShortAndExact) {
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(3723s), "1h2m3s");
  EXPECT_EQ(format_duration(-90s), "-1m30s");
  EXPECT_EQ(format_duration(days{3} + 5s), "3d5s");
  EXPECT_EQ(parse_duration(format_duration(days{3} + 5s)), days{3} + 5s);
}

}  // namespace
}  // namespace hostsweep::policy
