#pragma once
// `cron-next`: the next fire times of a cron expression, for people checking a schedule.
// The integrator wires it into the command line; this part does no parsing of arguments.

#include "hostsweep/policy/timestamp.hpp"

#include <date/tz.h>

#include <ostream>
#include <string_view>

namespace hostsweep::cli {

// Prints `count` fire times after `after`, one a line: the UTC instant, two spaces, then the
// wall time in `zone` with its abbreviation and offset:
//   2026-03-08T07:00:00Z  2026-03-08 03:00:00 EDT (-04:00)
// A bad expression or count writes one line to `err` and returns 2; success returns 0.
int run_cron_next(std::string_view expr, const date::time_zone& zone, TimePoint after, int count, std::ostream& out,
                  std::ostream& err);

}  // namespace hostsweep::cli
