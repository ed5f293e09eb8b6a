#include "cron_next.hpp"

#include "policy/cron.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace hostsweep::cli {
namespace {

std::string format_fire(TimePoint instant, const date::time_zone& zone) {
  const date::sys_seconds utc = std::chrono::floor<std::chrono::seconds>(instant);
  const date::sys_info info = zone.get_info(utc);
  const date::local_seconds wall{utc.time_since_epoch() + info.offset};
  const auto offset_minutes = std::chrono::duration_cast<std::chrono::minutes>(info.offset).count();
  const auto magnitude = static_cast<int>(std::llabs(offset_minutes));  // under a day
  char offset[32];
  std::snprintf(offset, sizeof offset, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+', magnitude / 60, magnitude % 60);
  return date::format("%Y-%m-%dT%H:%M:%SZ", utc) + "  " + date::format("%Y-%m-%d %H:%M:%S", wall) + " " +
         info.abbrev + " (" + offset + ")";
}

}  // namespace

int run_cron_next(std::string_view expr, const date::time_zone& zone, TimePoint after, int count, std::ostream& out,
                  std::ostream& err) {
  if (count < 1) {
    err << "hostsweep: error: count must be at least 1, not " << count << "\n";
    return 2;
  }
  std::string error;
  const auto schedule = policy::CronSchedule::try_parse(expr, error);
  if (!schedule) {
    err << "hostsweep: error: " << error << "\n";
    return 2;
  }
  TimePoint cursor = after;
  for (int i = 0; i < count; ++i) {
    const auto next = schedule->next_after(cursor, zone);
    if (!next) {
      err << "hostsweep: error: \"" << expr << "\" does not fire again within 400 years\n";
      return 2;
    }
    out << format_fire(*next, zone) << "\n";
    cursor = *next;
  }
  return 0;
}

}  // namespace hostsweep::cli
