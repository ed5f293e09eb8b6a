#include "policy/recurrence.hpp"

#include <fmt/format.h>

#include "policy/cron.hpp"

namespace hostsweep::policy {

std::vector<FanOut> plan_fan_out(const std::vector<FinishedRecurring>& rows, const date::time_zone& zone, TimePoint now) {
  std::vector<FanOut> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    FanOut f{row.id, std::nullopt, {}};
    std::string error;
    if (auto schedule = CronSchedule::try_parse(row.recurrence, error)) {
      f.next = schedule->next_after(now, zone);
      if (!f.next) f.error = fmt::format("recurrence \"{}\" does not fire again", row.recurrence);
    } else {
      f.error = fmt::format("recurrence \"{}\": {}", row.recurrence, error);
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace hostsweep::policy
