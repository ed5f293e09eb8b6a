#pragma once
// Step 5 of the sweep: when a message of a recurring series finishes (completed, or failed:
// PROTOCOL.md, deliberate), its series' next occurrence is scheduled at the next fire time of
// its cron expression, strictly after now, in the configured zone. Pure.
//
// An expression that cannot be parsed is terminal (FAILURE-MODES.md 10): one error, and the
// finished row's recurrence is cleared, so the series ends and is never retried every sweep.

#include <optional>
#include <string>
#include <vector>

#include <date/tz.h>

#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::policy {

// A finished row that still carries a recurrence.
struct FinishedRecurring {
  std::string id;
  std::string recurrence;
  bool trigger = true;  // its next occurrence will wake a container (it copies the row's trigger)
};

struct FanOut {
  std::string message_id;           // the finished row
  std::optional<TimePoint> next;    // when its series runs next; nullopt: the series ends
  std::string error;                // why it ends (an invalid expression), else empty
};

std::vector<FanOut> plan_fan_out(const std::vector<FinishedRecurring>& rows, const date::time_zone& zone, TimePoint now);

}  // namespace hostsweep::policy
