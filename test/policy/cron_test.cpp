// Tests for the cron engine and the cron-next printer.
//
// Every expected fire time below was worked out by hand from the calendar, from `zdump -v
// ZONE | grep 2026` and with GNU date, e.g.
//   date -u -d 'TZ="America/New_York" 2026-03-08 03:30' +%FT%TZ   ->  2026-03-08T07:30:00Z
// and never taken from the code under test. Transitions used (zdump, tzdata 2025b):
//   America/New_York     2026-03-08 07:00Z  02:00 EST -> 03:00 EDT  (02:00-02:59 does not exist)
//                        2026-11-01 06:00Z  02:00 EDT -> 01:00 EST  (01:00-01:59 happens twice)
//   Europe/London        2026-03-29 01:00Z  01:00 GMT -> 02:00 BST  (01:00-01:59 does not exist)
//                        2026-10-25 01:00Z  02:00 BST -> 01:00 GMT  (01:00-01:59 happens twice)
//   Australia/Lord_Howe  2026-04-04 15:00Z  02:00 +11 -> 01:30 +1030 (01:30-01:59 happens twice)
//                        2026-10-03 15:30Z  02:00 +1030 -> 02:30 +11 (02:00-02:29 does not exist)
//   America/Santiago     2026-09-06 04:00Z  00:00 -04 -> 01:00 -03  (midnight does not exist)
//   Pacific/Apia         2011-12-30 10:00Z  Dec 30 00:00 -10 -> Dec 31 00:00 +14 (a whole day)
// Calendar facts: 2026-01-01 is a Thursday; 2100 is not a leap year; 2104-02-29 is a Friday.

#include "policy/cron.hpp"

#include "cli/cron_next.hpp"
#include "hostsweep/error.hpp"

#include <date/tz.h>
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace hostsweep::policy {
namespace {

TimePoint at(std::string_view text) {
  const auto t = parse_timestamp(text);
  if (!t) throw std::invalid_argument("bad timestamp in test table: " + std::string(text));
  return *t;
}

const date::time_zone& zone(std::string_view name) { return *date::locate_zone(std::string(name)); }

// The wall-clock time of an instant, worked out through the date library directly.
date::local_seconds wall_time(TimePoint t, const date::time_zone& tz) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  return date::local_seconds{seconds.time_since_epoch() + tz.get_info(seconds).offset};
}

// ---------------------------------------------------------------------------------------------
// Fire times, table-driven

struct FireCase {
  std::string_view expression;
  std::string_view zone;
  std::string_view after;
  std::vector<std::string_view> expected;  // successive fire times, UTC
  std::string_view why;
};

void PrintTo(const FireCase& c, std::ostream* os) {
  *os << "\"" << c.expression << "\" in " << c.zone << " after " << c.after << " (" << c.why << ")";
}

class Fires : public testing::TestWithParam<FireCase> {};

TEST_P(Fires, SuccessiveFireTimes) {
  const FireCase& c = GetParam();
  const CronSchedule schedule = CronSchedule::parse(c.expression);
  TimePoint cursor = at(c.after);
  for (std::string_view expected : c.expected) {
    const auto next = schedule.next_after(cursor, zone(c.zone));
    ASSERT_TRUE(next.has_value()) << "expected " << expected;
    EXPECT_EQ(format_iso8601(*next), format_iso8601(at(expected)));
    cursor = *next;
  }
}

const std::vector<FireCase> kSyntax = {
    {"* * * * *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}, "every minute"},
    {"*/15 * * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z"}, "step"},
    {"5/15 * * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T00:05:00Z", "2026-01-01T00:20:00Z", "2026-01-01T00:35:00Z", "2026-01-01T00:50:00Z",
      "2026-01-01T01:05:00Z"},
     "start/step runs from start to the field's maximum"},
    {"1-30/7 * * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T00:01:00Z", "2026-01-01T00:08:00Z", "2026-01-01T00:15:00Z", "2026-01-01T00:22:00Z",
      "2026-01-01T00:29:00Z", "2026-01-01T01:01:00Z"},
     "range with step"},
    {"1,5,10 * * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T00:01:00Z", "2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", "2026-01-01T01:01:00Z"}, "list"},
    {"0 9-11 * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T09:00:00Z", "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", "2026-01-02T09:00:00Z"}, "range"},
    {"10-12,40-59/10 * * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T00:10:00Z", "2026-01-01T00:11:00Z", "2026-01-01T00:12:00Z", "2026-01-01T00:40:00Z",
      "2026-01-01T00:50:00Z", "2026-01-01T01:10:00Z"},
     "list of ranges"},
    {"? * * * *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:01:00Z"}, "? is *"},
    {"*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"}, "six fields: seconds first"},
    {"30 0 0 1 1 *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:00:30Z", "2027-01-01T00:00:30Z"},
     "six fields, yearly at 00:00:30"},
    {"0 0 1 JAN,jul *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z"}, "month names in a list"},
    {"0 0 1 mar-MAY *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", "2027-03-01T00:00:00Z"},
     "month names in a range, any case"},
    {"0 0 1 JAN-DEC/3 *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"},
     "month names with a step"},
    {"0 12 * * MON-FRI", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z", "2026-01-05T12:00:00Z"}, "weekday names in a range"},
    {"0 0 * * SAT,sun", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-10T00:00:00Z"}, "weekday names in a list"},
    {"0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}, "7 is Sunday"},
    {"0 0 * * 0", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}, "0 is Sunday"},
    {"0 0 * * 5-7", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"},
     "a range ending at 7 includes Sunday"},
    {"0 0 * * */2", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-06T00:00:00Z"}, "weekday step: Sun Tue Thu Sat"},
};

const std::vector<FireCase> kDayRules = {
    {"0 0 L * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"},
     "L: last day of each month"},
    {"0 0 L 2 *", "UTC", "2027-03-01T00:00:00Z", {"2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"},
     "L in February: 29 in a leap year, 28 otherwise"},
    {"0 0 L 2 *", "UTC", "2099-03-01T00:00:00Z", {"2100-02-28T00:00:00Z", "2101-02-28T00:00:00Z"},
     "2100 is not a leap year"},
    {"0 0 1,L * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z"}, "L in a list"},
    {"0 0 * * 5L", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z"}, "5L: last Friday"},
    {"0 0 * * FRIL", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z"}, "FRIL: the last Friday, by name"},
    {"0 0 * * 0L", "UTC", "2026-01-01T00:00:00Z", {"2026-01-25T00:00:00Z", "2026-02-22T00:00:00Z"},
     "0L: last Sunday"},
    {"0 0 * * 7L", "UTC", "2026-01-01T00:00:00Z", {"2026-01-25T00:00:00Z", "2026-02-22T00:00:00Z"},
     "7L: last Sunday too"},
    {"0 0 * * 1,5L", "UTC", "2026-01-20T00:00:00Z",
     {"2026-01-26T00:00:00Z", "2026-01-30T00:00:00Z", "2026-02-02T00:00:00Z"}, "nL in a list"},
    {"0 0 * * 1#2", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-12T00:00:00Z", "2026-02-09T00:00:00Z", "2026-03-09T00:00:00Z"}, "1#2: second Monday"},
    {"0 0 * * FRI#2", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-09T00:00:00Z", "2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"}, "a name before #"},
    {"0 0 * * 1#5", "UTC", "2026-01-01T00:00:00Z",
     {"2026-03-30T00:00:00Z", "2026-06-29T00:00:00Z", "2026-08-31T00:00:00Z"},
     "fifth Monday: months without one are skipped"},
    {"0 0 * * 7#1", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-02-01T00:00:00Z"},
     "7#1: first Sunday"},
    // Day of month and day of week both restricted: either matches (cron-parser 5, Vixie cron).
    {"0 0 13 * 5", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"},
     "the 13th or a Friday"},
    {"0 0 */10 * 1", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-05T00:00:00Z", "2026-01-11T00:00:00Z", "2026-01-12T00:00:00Z", "2026-01-19T00:00:00Z",
      "2026-01-21T00:00:00Z"},
     "*/10 counts as restricted: days 1,11,21,31 or Mondays"},
    {"0 0 */10 * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-11T00:00:00Z", "2026-01-21T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"},
     "only day of month restricted"},
    {"0 0 13 * ?", "UTC", "2026-01-01T00:00:00Z", {"2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"},
     "? leaves day of week unrestricted"},
    {"0 0 ? * 5", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z"},
     "? leaves day of month unrestricted"},
    {"0 0 L * 5", "UTC", "2026-01-20T00:00:00Z",
     {"2026-01-23T00:00:00Z", "2026-01-30T00:00:00Z", "2026-01-31T00:00:00Z"},
     "L or a Friday"},
    {"0 0 1 * 1#2", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-12T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-09T00:00:00Z"}, "the 1st or the second Monday"},
    {"0 0 31 2 1", "UTC", "2026-01-01T00:00:00Z", {"2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"},
     "31 February never comes, but Mondays in February do"},
};

const std::vector<FireCase> kMacros = {
    {"@yearly", "UTC", "2026-01-01T00:00:00Z", {"2027-01-01T00:00:00Z"}, "@yearly"},
    {"@annually", "UTC", "2026-01-01T00:00:00Z", {"2027-01-01T00:00:00Z"}, "@annually"},
    {"@monthly", "UTC", "2026-01-01T00:00:00Z", {"2026-02-01T00:00:00Z"}, "@monthly"},
    {"@weekly", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}, "@weekly: Sunday"},
    {"@daily", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z"}, "@daily"},
    {"@hourly", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T01:00:00Z"}, "@hourly"},
    {"@minutely", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:01:00Z"}, "@minutely"},
    {"@secondly", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"}, "@secondly"},
    {"@weekdays", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z", "2026-01-05T00:00:00Z"},
     "@weekdays: Monday to Friday"},
    {"@weekends", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-10T00:00:00Z"}, "@weekends: Saturday and Sunday"},
    {"  @daily  ", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z"}, "surrounding space"},
};

const std::vector<FireCase> kCalendar = {
    {"0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", {"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}, "29 February"},
    {"0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", {"2104-02-29T00:00:00Z"}, "no 29 February in 2100"},
    {"0 0 31 * *", "UTC", "2026-01-31T00:00:00Z",
     {"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z",
      "2026-10-31T00:00:00Z"},
     "months without a 31st are skipped"},
    {"0 0 30 * *", "UTC", "2026-01-30T00:00:00Z", {"2026-03-30T00:00:00Z"}, "February has no 30th"},
    {"59 23 31 12 *", "UTC", "2026-06-01T00:00:00Z", {"2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"},
     "last minute of the year"},
    {"0 0 1 1 *", "UTC", "2026-12-31T23:59:59.500Z", {"2027-01-01T00:00:00Z"}, "across the year boundary"},
    {"*/30 * * * * *", "UTC", "2026-12-31T23:59:45Z", {"2027-01-01T00:00:00Z", "2027-01-01T00:00:30Z"},
     "seconds across the year boundary"},
    {"0 0 * * *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z"}, "strictly after: not the same instant"},
    {"* * * * * *", "UTC", "2026-01-01T00:00:00.500Z", {"2026-01-01T00:00:01Z"}, "fractions of a second"},
    {"0 0 * * 5", "UTC", "2027-12-30T00:00:00Z", {"2027-12-31T00:00:00Z", "2028-01-07T00:00:00Z"},
     "weekday across the year boundary"},
};

// Zones without DST, and zones at ordinary times: local fields, UTC answers.
const std::vector<FireCase> kZones = {
    {"0 9 * * *", "Asia/Tokyo", "2026-03-07T00:00:00Z", {"2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"},
     "Tokyo is UTC+9 all year"},
    {"30 2 8 3 *", "Asia/Tokyo", "2026-01-01T00:00:00Z", {"2026-03-07T17:30:00Z"},
     "02:30 on New York's DST day is nothing special in Tokyo"},
    {"0 0 1 1 *", "Asia/Tokyo", "2026-06-01T00:00:00Z", {"2026-12-31T15:00:00Z"},
     "a local new year is the previous UTC day"},
    {"0 9 * * *", "Asia/Kolkata", "2026-01-01T00:00:00Z", {"2026-01-01T03:30:00Z"}, "half-hour offset"},
    {"0 0 * * *", "America/New_York", "2026-01-01T00:00:00Z", {"2026-01-01T05:00:00Z"}, "EST"},
    {"0 0 * * *", "America/New_York", "2026-07-01T00:00:00Z", {"2026-07-01T04:00:00Z"}, "EDT"},
};

// The DST rules (docs/CRON.md):
//  - A schedule whose hour field allows all 24 hours follows real time: a wall time that does
//    not exist does not fire, one that happens twice fires twice.
//  - Any other schedule fires a wall time that happens twice once, at its first occurrence,
//    and a wall time that does not exist at the instant the clock would have shown it had it
//    not jumped: later by the size of the jump. Never twice at one instant.
const std::vector<FireCase> kDst = {
    // New York, spring forward: 02:00-02:59 does not exist on 2026-03-08.
    {"30 2 * * *", "America/New_York", "2026-03-06T12:00:00Z",
     {"2026-03-07T07:30:00Z", "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"},
     "02:30 EST, then 03:30 EDT (02:30 does not exist), then 02:30 EDT"},
    {"0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", {"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"},
     "02:00 fires at 03:00 EDT"},
    {"*/20 2 * * *", "America/New_York", "2026-03-08T05:30:00Z",
     {"2026-03-08T07:00:00Z", "2026-03-08T07:20:00Z", "2026-03-08T07:40:00Z", "2026-03-09T06:00:00Z"},
     "the whole missing hour moves to 03:xx"},
    {"59 2 * * *", "America/New_York", "2026-03-08T05:30:00Z", {"2026-03-08T07:59:00Z"}, "02:59 -> 03:59 EDT"},
    {"0 * * * *", "America/New_York", "2026-03-08T05:30:00Z",
     {"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"},
     "hourly: 01:00 EST, 03:00 EDT; no extra run for the missing 02:00"},
    {"30 1-3 * * *", "America/New_York", "2026-03-08T05:30:00Z",
     {"2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z", "2026-03-09T05:30:00Z"},
     "02:30 moved onto 03:30 fires once"},
    {"0 3 * * *", "America/New_York", "2026-03-08T05:00:00Z", {"2026-03-08T07:00:00Z", "2026-03-09T07:00:00Z"},
     "03:00 exists"},
    // New York, fall back: 01:00-01:59 happens twice on 2026-11-01 (EDT, then EST).
    {"30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", {"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
     "01:30 fires once, at 01:30 EDT"},
    {"30 1 * * *", "America/New_York", "2026-11-01T05:45:00Z", {"2026-11-02T06:30:00Z"},
     "between the two 01:30s: the second is not a new run"},
    {"30 1 * * *", "America/New_York", "2026-11-01T06:10:00Z", {"2026-11-02T06:30:00Z"},
     "starting inside the repeated hour: 01:30 already fired in EDT"},
    {"*/20 1 * * *", "America/New_York", "2026-11-01T04:50:00Z",
     {"2026-11-01T05:00:00Z", "2026-11-01T05:20:00Z", "2026-11-01T05:40:00Z", "2026-11-02T06:00:00Z"},
     "the repeated hour runs once"},
    {"0 1,2 * * *", "America/New_York", "2026-11-01T04:30:00Z",
     {"2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-02T06:00:00Z"}, "01:00 EDT, 02:00 EST"},
    {"0 * * * *", "America/New_York", "2026-11-01T04:30:00Z",
     {"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"},
     "hourly: 01:00 EDT and 01:00 EST both fire"},
    {"0 0-23 * * *", "America/New_York", "2026-11-01T04:30:00Z",
     {"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"},
     "0-23 allows every hour, like *"},
    {"*/30 * * * *", "America/New_York", "2026-11-01T04:50:00Z",
     {"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z",
      "2026-11-01T07:00:00Z"},
     "every 30 minutes of real time"},
    // London: 01:00-01:59 does not exist on 2026-03-29 and happens twice on 2026-10-25.
    {"30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", {"2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"},
     "01:30 fires at 02:30 BST"},
    {"0 * * * *", "Europe/London", "2026-03-28T23:30:00Z",
     {"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"}, "hourly: 00:00 GMT, 02:00 BST"},
    {"30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z", {"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
     "01:30 BST only"},
    {"15,45 1 * * *", "Europe/London", "2026-10-24T23:30:00Z",
     {"2026-10-25T00:15:00Z", "2026-10-25T00:45:00Z", "2026-10-26T01:15:00Z"}, "first pass only"},
    {"0 * * * *", "Europe/London", "2026-10-24T23:30:00Z",
     {"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"}, "01:00 BST and 01:00 GMT"},
    // Lord Howe, a 30-minute shift. Spring: 02:00-02:29 does not exist on 2026-10-04.
    {"0 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", {"2026-10-03T15:30:00Z", "2026-10-04T15:00:00Z"},
     "02:00 fires at 02:30 +11, then 02:00 +11"},
    {"15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", {"2026-10-03T15:45:00Z", "2026-10-04T15:15:00Z"},
     "02:15 fires at 02:45 +11"},
    {"45 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", {"2026-10-03T15:45:00Z", "2026-10-04T15:45:00Z"},
     "02:45 exists"},
    {"30 1,2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z",
     {"2026-10-03T15:00:00Z", "2026-10-03T15:30:00Z", "2026-10-04T14:30:00Z", "2026-10-04T15:30:00Z"},
     "01:30 +1030, 02:30 +11"},
    {"*/15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z",
     {"2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z", "2026-10-04T15:00:00Z"},
     "02:00 and 02:15 land on 02:30 and 02:45, which fire once each"},
    {"0 * * * *", "Australia/Lord_Howe", "2026-10-03T13:00:00Z",
     {"2026-10-03T13:30:00Z", "2026-10-03T14:30:00Z", "2026-10-03T16:00:00Z", "2026-10-03T17:00:00Z"},
     "hourly: 00:00, 01:00, (02:00 does not exist), 03:00"},
    {"*/15 * * * *", "Australia/Lord_Howe", "2026-10-03T14:50:00Z",
     {"2026-10-03T15:00:00Z", "2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z",
      "2026-10-03T16:00:00Z"},
     "every 15 minutes of real time"},
    // Lord Howe, fall: 01:30-01:59 happens twice on 2026-04-05 (+11, then +1030).
    {"45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00Z", {"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"},
     "01:45 +11 only, then 01:45 +1030 the next day"},
    {"0 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00Z", {"2026-04-04T14:00:00Z", "2026-04-05T14:30:00Z"},
     "01:00 exists once"},
    {"0 * * * *", "Australia/Lord_Howe", "2026-04-04T12:30:00Z",
     {"2026-04-04T13:00:00Z", "2026-04-04T14:00:00Z", "2026-04-04T15:30:00Z", "2026-04-04T16:30:00Z"},
     "hourly: 00:00 +11, 01:00 +11, 02:00 +1030"},
    {"*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T14:20:00Z",
     {"2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z",
      "2026-04-04T15:30:00Z"},
     "01:30 and 01:45 fire in both passes"},
    {"*/15 1 * * *", "Australia/Lord_Howe", "2026-04-04T13:50:00Z",
     {"2026-04-04T14:00:00Z", "2026-04-04T14:15:00Z", "2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z",
      "2026-04-05T14:30:00Z"},
     "hour 1 only: the repeated half hour runs once"},
    // Clocks that skip midnight, and a skipped day.
    {"0 0 * * *", "America/Santiago", "2026-09-05T12:00:00Z", {"2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"},
     "midnight does not exist: 01:00 -03"},
    {"0 12 * * *", "Pacific/Apia", "2011-12-28T12:00:00Z",
     {"2011-12-28T22:00:00Z", "2011-12-29T22:00:00Z", "2011-12-30T22:00:00Z", "2011-12-31T22:00:00Z"},
     "30 December 2011 did not exist; its noon moves onto 31 December's and fires once"},
};

INSTANTIATE_TEST_SUITE_P(Syntax, Fires, testing::ValuesIn(kSyntax));
INSTANTIATE_TEST_SUITE_P(DayRules, Fires, testing::ValuesIn(kDayRules));
INSTANTIATE_TEST_SUITE_P(Macros, Fires, testing::ValuesIn(kMacros));
INSTANTIATE_TEST_SUITE_P(Calendar, Fires, testing::ValuesIn(kCalendar));
INSTANTIATE_TEST_SUITE_P(Zones, Fires, testing::ValuesIn(kZones));
INSTANTIATE_TEST_SUITE_P(Dst, Fires, testing::ValuesIn(kDst));

// ---------------------------------------------------------------------------------------------
// Invalid expressions, table-driven

struct BadCase {
  std::string_view expression;
  std::string_view message;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << "\"" << c.expression << "\""; }

class Rejects : public testing::TestWithParam<BadCase> {};

TEST_P(Rejects, WithExactMessage) {
  const BadCase& c = GetParam();
  try {
    (void)CronSchedule::parse(c.expression);
    FAIL() << "accepted \"" << c.expression << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_EQ(std::string(e.what()), c.message);
  }
  std::string error;
  EXPECT_FALSE(CronSchedule::try_parse(c.expression, error).has_value());
  EXPECT_EQ(error, c.message);
}

const std::vector<BadCase> kBad = {
    {"", "empty cron expression"},
    {"   ", "empty cron expression"},
    {"* * * *", "expected 5 or 6 fields, got 4"},
    {"* * * * * * *", "expected 5 or 6 fields, got 7"},
    // Out of range, with the field numbered as written.
    {"0 0 32 * *", "field 3 (\"32\"): day of month must be 1-31"},
    {"0 0 0 * *", "field 3 (\"0\"): day of month must be 1-31"},
    {"60 * * * *", "field 1 (\"60\"): minute must be 0-59"},
    {"0 24 * * *", "field 2 (\"24\"): hour must be 0-23"},
    {"0 0 * 13 *", "field 4 (\"13\"): month must be 1-12"},
    {"0 0 * 0 *", "field 4 (\"0\"): month must be 1-12"},
    {"0 0 * * 8", "field 5 (\"8\"): day of week must be 0-7"},
    {"60 * * * * *", "field 1 (\"60\"): second must be 0-59"},
    {"0 60 * * * *", "field 2 (\"60\"): minute must be 0-59"},
    {"0 0 1,32 * *", "field 3 (\"1,32\"): day of month must be 1-31, not 32"},
    {"0 0 1-32 * *", "field 3 (\"1-32\"): day of month must be 1-31, not 32"},
    {"0 0 99999999 * *", "field 3 (\"99999999\"): day of month must be 1-31"},
    {"0 0 JAN * *", "field 3 (\"JAN\"): day of month must be 1-31, not \"JAN\""},
    // Lists, steps, ranges.
    {"1,,2 * * * *", "field 1 (\"1,,2\"): empty list item"},
    {"1, * * * *", "field 1 (\"1,\"): empty list item"},
    {"*/0 * * * *", "field 1 (\"*/0\"): step must be a positive whole number, not \"0\""},
    {"*/x * * * *", "field 1 (\"*/x\"): step must be a positive whole number, not \"x\""},
    {"*/ * * * *", "field 1 (\"*/\"): step must be a positive whole number, not \"\""},
    {"*/5/2 * * * *", "field 1 (\"*/5/2\"): step must be a positive whole number, not \"5/2\""},
    {"/5 * * * *", "field 1 (\"/5\"): missing value before /"},
    {"-5 * * * *", "field 1 (\"-5\"): a range needs a value on both sides of -"},
    {"5- * * * *", "field 1 (\"5-\"): a range needs a value on both sides of -"},
    {"5-1 * * * *", "field 1 (\"5-1\"): range start 5 is greater than range end 1"},
    {"0 0 * * FRI-MON", "field 5 (\"FRI-MON\"): range start 5 is greater than range end 1"},
    {"1,1 * * * *", "field 1 (\"1,1\"): 1 is listed more than once"},
    {"1-5,3 * * * *", "field 1 (\"1-5,3\"): 3 is listed more than once"},
    {"0 0 * * 0,7", "field 5 (\"0,7\"): Sunday (0 or 7) is listed more than once"},
    {"0 0 1% * *", "field 3 (\"1%\"): unexpected character '%'"},
    // Names and macros.
    {"0 0 * FOO *", "field 4 (\"FOO\"): unknown month name \"FOO\" (expected JAN-DEC)"},
    {"0 0 * * FOO", "field 5 (\"FOO\"): unknown day-of-week name \"FOO\" (expected SUN-SAT)"},
    {"0 0 * * THURSDAY", "field 5 (\"THURSDAY\"): unknown day-of-week name \"THURSDAY\" (expected SUN-SAT)"},
    {"@fortnightly",
     "unknown macro \"@fortnightly\" (known: @yearly, @annually, @monthly, @weekly, @daily, @hourly, @minutely, "
     "@secondly, @weekdays, @weekends)"},
    {"@YEARLY",
     "unknown macro \"@YEARLY\" (known: @yearly, @annually, @monthly, @weekly, @daily, @hourly, @minutely, "
     "@secondly, @weekdays, @weekends)"},
    {"@daily 5",
     "unknown macro \"@daily 5\" (known: @yearly, @annually, @monthly, @weekly, @daily, @hourly, @minutely, "
     "@secondly, @weekdays, @weekends)"},
    // H, L and #.
    {"H * * * *", "field 1 (\"H\"): H (hashed values) is not supported"},
    {"0 H(0-5) * * *", "field 2 (\"H(0-5)\"): H (hashed values) is not supported"},
    {"H/5 * * * *", "field 1 (\"H/5\"): H (hashed values) is not supported"},
    {"L * * * *", "field 1 (\"L\"): L is only allowed in day of month and day of week"},
    {"0 0 * L *", "field 4 (\"L\"): L is only allowed in day of month and day of week"},
    {"0 0 * * L", "field 5 (\"L\"): L in day of week needs a weekday before it, e.g. 5L (the last Friday)"},
    {"0 0 5L * *", "field 3 (\"5L\"): nL (the last weekday n) is only allowed in day of week"},
    {"0 0 L-5 * *", "field 3 (\"L-5\"): L cannot be used with a step or in a range"},
    {"0 0 L/2 * *", "field 3 (\"L/2\"): L cannot be used with a step or in a range"},
    {"0 0 * * 5L/2", "field 5 (\"5L/2\"): L cannot be used with a step or in a range"},
    {"0 0 * * 1-5L", "field 5 (\"1-5L\"): L cannot be used with a step or in a range"},
    {"0 0 * * 8L", "field 5 (\"8L\"): day of week must be 0-7, not 8"},
    {"0 0 * * 1#6", "field 5 (\"1#6\"): # occurrence must be 1-5"},
    {"0 0 * * 1#0", "field 5 (\"1#0\"): # occurrence must be 1-5"},
    {"0 0 * * 1#1#2", "field 5 (\"1#1#2\"): # occurrence must be 1-5"},
    {"0 0 * * 1#2,3", "field 5 (\"1#2,3\"): # cannot be combined with a list"},
    {"0 0 * * 1-2#1", "field 5 (\"1-2#1\"): # cannot be combined with a range, a step or L"},
    {"0 0 * * 5L#1", "field 5 (\"5L#1\"): # cannot be combined with a range, a step or L"},
    {"0 0 * * *#2", "field 5 (\"*#2\"): # needs one weekday before it, e.g. 1#2 (the second Monday)"},
    {"0 0 * * 9#2", "field 5 (\"9#2\"): day of week must be 0-7, not 9"},
    {"0 0 1#1 * *", "field 3 (\"1#1\"): # is only allowed in day of week"},
    // Expressions that can never fire.
    {"0 0 30 2 *", "field 3 (\"30\"): the schedule never fires, as no month allowed by field 4 (\"2\") has day 30"},
    {"0 0 31 4,6,9,11 *",
     "field 3 (\"31\"): the schedule never fires, as no month allowed by field 4 (\"4,6,9,11\") has day 31"},
    {"0 0 0 30,31 FEB *",
     "field 4 (\"30,31\"): the schedule never fires, as no month allowed by field 5 (\"FEB\") has day 30"},
};

INSTANTIATE_TEST_SUITE_P(Cron, Rejects, testing::ValuesIn(kBad));

TEST(CronParse, AcceptsWhatCronParserAccepts) {
  for (const char* good : {"0 0 31 2,3 *", "0 0 L 2 *", "0 0 * * 1-7", "0 0 1,L * *", "0 0 * * 1L,5L",
                           "0 0 29 2 *", "0 0 * 2 1#5", "0\t0  *   * *", "*/5,7 * * * *", "0 0 * * 5-7/2"}) {
    std::string error;
    EXPECT_TRUE(CronSchedule::try_parse(good, error).has_value()) << good << ": " << error;
  }
}

TEST(CronParse, KeepsTheExpressionAsGiven) {
  EXPECT_EQ(CronSchedule::parse("*/5 * * * *").expression(), "*/5 * * * *");
  EXPECT_EQ(CronSchedule::parse("@daily").expression(), "@daily");
}

// ---------------------------------------------------------------------------------------------
// Properties over whole years, checked against the date library rather than hand-made lists

// Every fire in [from, until), in order.
std::vector<TimePoint> fires_between(const CronSchedule& schedule, const date::time_zone& tz, TimePoint from,
                                     TimePoint until) {
  std::vector<TimePoint> fires;
  TimePoint cursor = from - std::chrono::milliseconds{1};
  while (true) {
    const auto next = schedule.next_after(cursor, tz);
    if (!next || *next >= until) return fires;
    fires.push_back(*next);
    cursor = *next;
  }
}

TEST(CronProperties, HourlyFiresEveryRealHourAcrossBothTransitions) {
  // New York's offsets are whole hours, so every UTC hour of 2026 starts a local hour.
  for (const char* name : {"America/New_York", "Europe/London"}) {
    const auto fires = fires_between(CronSchedule::parse("0 * * * *"), zone(name), at("2026-01-01T00:00:00Z"),
                                     at("2027-01-01T00:00:00Z"));
    EXPECT_EQ(fires.size(), 365U * 24U) << name;
    for (std::size_t i = 1; i < fires.size(); ++i) {
      ASSERT_EQ(fires[i] - fires[i - 1], std::chrono::hours{1}) << name << " at " << format_iso8601(fires[i]);
    }
  }
}

TEST(CronProperties, DailyRunsOncePerLocalDateAndNeverSkipsADay) {
  struct Daily {
    const char* expression;
    const char* zone;
  };
  for (const Daily& d : {Daily{"30 2 * * *", "America/New_York"}, Daily{"30 1 * * *", "America/New_York"},
                         Daily{"30 1 * * *", "Europe/London"}, Daily{"15 2 * * *", "Australia/Lord_Howe"},
                         Daily{"45 1 * * *", "Australia/Lord_Howe"}, Daily{"0 0 * * *", "America/Santiago"}}) {
    const date::time_zone& tz = zone(d.zone);
    const auto fires = fires_between(CronSchedule::parse(d.expression), tz, at("2026-01-01T00:00:00Z"),
                                     at("2027-01-01T00:00:00Z"));
    std::set<date::local_days> dates;
    for (TimePoint t : fires) dates.insert(date::floor<date::days>(wall_time(t, tz)));
    // The first and last UTC days of the year straddle local dates; 364 full ones lie between.
    EXPECT_GE(fires.size(), 364U) << d.expression << " in " << d.zone;
    EXPECT_LE(fires.size(), 366U) << d.expression << " in " << d.zone;
    EXPECT_EQ(dates.size(), fires.size()) << "two runs on one local date: " << d.expression << " in " << d.zone;
    for (auto it = std::next(dates.begin()); it != dates.end(); ++it) {
      EXPECT_EQ(*it - *std::prev(it), date::days{1}) << "a day without a run: " << d.expression << " in " << d.zone;
    }
  }
}

TEST(CronProperties, RestrictedHoursNeverRepeatAWallTime) {
  for (const char* name : {"America/New_York", "Europe/London", "Australia/Lord_Howe"}) {
    const date::time_zone& tz = zone(name);
    const auto fires = fires_between(CronSchedule::parse("*/5 0-3 * * *"), tz, at("2026-01-01T00:00:00Z"),
                                     at("2027-01-01T00:00:00Z"));
    std::set<date::local_seconds> walls;
    for (std::size_t i = 0; i < fires.size(); ++i) {
      if (i > 0) {
        ASSERT_LT(fires[i - 1], fires[i]) << name;
      }
      EXPECT_TRUE(walls.insert(wall_time(fires[i], tz)).second)
          << name << ": wall time repeated at " << format_iso8601(fires[i]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Speed sanity: field-by-field search, no minute-by-minute scan. No timing assertions.

TEST(CronSpeed, ThousandYearlyFires) {
  const CronSchedule schedule = CronSchedule::parse("@yearly");
  const auto fires = schedule.next_n(at("2026-06-01T00:00:00Z"), zone("America/New_York"), 1000);
  ASSERT_EQ(fires.size(), 1000U);
  for (std::size_t i = 0; i < fires.size(); ++i) {
    // Local midnight on 1 January is EST (UTC-5) in New York.
    const date::year year{2027 + static_cast<int>(i)};
    EXPECT_EQ(fires[i], TimePoint{date::sys_days{year / 1 / 1} + std::chrono::hours{5}}) << static_cast<int>(year);
  }
}

TEST(CronSpeed, HundredLeapDays) {
  const auto fires = CronSchedule::parse("0 0 29 2 *").next_n(at("2026-01-01T00:00:00Z"), zone("UTC"), 100);
  ASSERT_EQ(fires.size(), 100U);
  int year = 2026;
  for (TimePoint fire : fires) {
    do ++year;
    while (!(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)));
    EXPECT_EQ(fire, TimePoint{date::sys_days{date::year{year} / 2 / 29}}) << year;
  }
}

TEST(CronSpeed, RareFifthMondayOfFebruary) {
  // A fifth Monday in February needs 29 February to be a Monday.
  const auto fires = CronSchedule::parse("0 0 * 2 1#5").next_n(at("2026-01-01T00:00:00Z"), zone("UTC"), 5);
  ASSERT_EQ(fires.size(), 5U);
  int year = 2026;
  for (TimePoint fire : fires) {
    do ++year;
    while (!date::year{year}.is_leap() ||
           date::weekday{date::sys_days{date::year{year} / 2 / 29}} != date::Monday);
    EXPECT_EQ(fire, TimePoint{date::sys_days{date::year{year} / 2 / 29}}) << year;
  }
}

TEST(CronLimits, ExtremeStartingPointsAreSafe) {
  const CronSchedule schedule = CronSchedule::parse("0 0 1 1 *");
  EXPECT_FALSE(schedule.next_after(TimePoint::max(), zone("UTC")).has_value());
  EXPECT_FALSE(schedule.next_after(at("9999-06-01T00:00:00Z"), zone("UTC")).has_value());
  EXPECT_EQ(schedule.next_after(TimePoint::min(), zone("UTC")), TimePoint{date::sys_days{date::year{1} / 1 / 1}});
  EXPECT_EQ(schedule.next_after(at("9998-06-01T00:00:00Z"), zone("UTC")),
            TimePoint{date::sys_days{date::year{9999} / 1 / 1}});
}

TEST(CronSpeed, EveryAcceptedExpressionFiresSoon) {
  for (const char* expression : {"0 0 * 2 1#5", "0 0 29 2 *", "0 0 L 2 *", "0 0 31 * *", "59 59 23 31 12 *"}) {
    EXPECT_TRUE(CronSchedule::parse(expression).next_after(at("2026-01-01T00:00:00Z"), zone("UTC")).has_value())
        << expression;
  }
}

}  // namespace
}  // namespace hostsweep::policy

// ---------------------------------------------------------------------------------------------
// The cron-next printer

namespace hostsweep::cli {
namespace {

struct Printed {
  int status;
  std::string out;
  std::string err;
};

Printed run(std::string_view expression, std::string_view zone_name, std::string_view after, int count) {
  std::ostringstream out;
  std::ostringstream err;
  const int status = run_cron_next(expression, *date::locate_zone(std::string(zone_name)),
                                   *policy::parse_timestamp(after), count, out, err);
  return {status, out.str(), err.str()};
}

TEST(CronNext, PrintsUtcThenLocalWithAbbreviationAndOffset) {
  const Printed p = run("0 3 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2);
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.out,
            "2026-03-08T07:00:00Z  2026-03-08 03:00:00 EDT (-04:00)\n"
            "2026-03-09T07:00:00Z  2026-03-09 03:00:00 EDT (-04:00)\n");
  EXPECT_EQ(p.err, "");
}

TEST(CronNext, PrintsHalfHourOffsetsBothWays) {
  EXPECT_EQ(run("0 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", 1).out,
            "2026-10-03T15:30:00Z  2026-10-04 02:30:00 +11 (+11:00)\n");
  EXPECT_EQ(run("0 12 1 1 *", "America/St_Johns", "2026-01-01T00:00:00Z", 1).out,
            "2026-01-01T15:30:00Z  2026-01-01 12:00:00 NST (-03:30)\n");
  EXPECT_EQ(run("0 0 1 1 *", "UTC", "2026-06-01T00:00:00Z", 1).out,
            "2027-01-01T00:00:00Z  2027-01-01 00:00:00 UTC (+00:00)\n");
}

TEST(CronNext, BadInputIsOneLineOnErrAndStatusTwo) {
  const Printed bad = run("0 0 32 * *", "UTC", "2026-01-01T00:00:00Z", 3);
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err, "hostsweep: error: field 3 (\"32\"): day of month must be 1-31\n");

  const Printed none = run("* * * * *", "UTC", "2026-01-01T00:00:00Z", 0);
  EXPECT_EQ(none.status, 2);
  EXPECT_EQ(none.out, "");
  EXPECT_EQ(none.err, "hostsweep: error: count must be at least 1, not 0\n");
}

}  // namespace
}  // namespace hostsweep::cli
