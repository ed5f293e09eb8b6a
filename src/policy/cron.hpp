#pragma once
// Cron schedules: parsing the expression language of the npm library cron-parser (v5) and
// computing fire times in a given time zone. Pure: no clock, no I/O, and never the process's
// TZ; the zone is always an argument. docs/CRON.md describes the language and what happens
// at daylight-saving transitions.

#include "hostsweep/policy/timestamp.hpp"

#include <date/tz.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hostsweep::policy {

class CronSchedule {
 public:
  // Accepts 5 fields (minute hour day-of-month month day-of-week), 6 with leading seconds, or
  // a macro such as @daily. Throws hostsweep::Error(Errc::invalid_argument) for anything else,
  // including an expression that can never fire ("0 0 30 2 *"). The message names the field
  // and the rule it breaks:  field 3 ("32"): day of month must be 1-31
  static CronSchedule parse(std::string_view expression);

  // Like parse(), but reports a bad expression through `error` instead of throwing.
  static std::optional<CronSchedule> try_parse(std::string_view expression, std::string& error);

  // The first fire time strictly after `after`, reading the fields as wall-clock time in
  // `zone`. Fire times are whole seconds. nullopt only when nothing fires within 400 years,
  // which parse() rules out, and for `after` from 9999-01-01 on, where the search stops.
  std::optional<TimePoint> next_after(TimePoint after, const date::time_zone& zone) const;

  // Up to `count` successive fire times after `after` (fewer only if next_after gives up).
  std::vector<TimePoint> next_n(TimePoint after, const date::time_zone& zone, std::size_t count) const;

  // The expression as it was given to parse().
  const std::string& expression() const noexcept { return expression_; }

 private:
  CronSchedule() = default;

  // The first wall-clock second in [from, until) that the fields match, if any.
  std::optional<date::local_seconds> first_match(date::local_seconds from, date::local_seconds until) const;
  // The first time of day (seconds since midnight) at or after `from` that hour, minute and
  // second allow, if any.
  std::optional<std::int64_t> first_time_of_day(std::int64_t from) const;
  bool day_matches(const date::year_month_day& ymd) const;

  std::string expression_;
  // Allowed values as bit sets: bit v set means value v is allowed.
  std::uint64_t seconds_ = 0;
  std::uint64_t minutes_ = 0;
  std::uint64_t hours_ = 0;
  std::uint64_t days_of_month_ = 0;    // bits 1-31
  std::uint64_t months_ = 0;           // bits 1-12
  std::uint64_t weekdays_ = 0;         // bits 0-6, Sunday is 0
  std::uint64_t last_weekdays_ = 0;    // "5L": bits 0-6
  bool last_day_of_month_ = false;     // "L" in day of month
  unsigned nth_weekday_ = 0;           // "1#2": 2; 0 when the field has no #
  // A day field is restricted unless its text is exactly "*" or "?"; when both are restricted,
  // a day matches if either does (cron-parser's rule, docs/CRON.md).
  bool day_of_month_restricted_ = false;
  bool day_of_week_restricted_ = false;
};

}  // namespace hostsweep::policy
