// CronSchedule::try_parse and next_n on any text:
//   line 1  the expression
//   line 2  optional: the instant to search after (any form parse_timestamp reads)
//   line 3  optional: the zone's IANA name (default America/New_York, which has DST)
// No crash, no UB, no hang; an expression that parses fires within the search horizon, at
// whole seconds, strictly after `after` and strictly increasing, and next_after(t - 1ms) of a
// fire time t is t itself (nothing fires between two consecutive fire times). From 9999-01-01
// on, next_after gives up by design.
#include <chrono>
#include <string>

#include "fuzz_check.hpp"
#include "hostsweep/error.hpp"
#include "policy/cron.hpp"
#include "policy/time_zone.hpp"

using namespace hostsweep;
using namespace std::chrono;

namespace {

// The line at `index` (0-based) of `text`, if there is one.
std::optional<std::string_view> line(std::string_view text, int index) {
  for (int i = 0; i < index; ++i) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    text.remove_prefix(nl + 1);
  }
  return text.substr(0, text.find('\n'));
}

// next_after gives up on purpose from here on (cron.cpp, kLatestSearchStart).
const TimePoint kLatestSearchStart{sys_days{year{9999} / 1 / 1}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  std::string error;
  const auto schedule = policy::CronSchedule::try_parse(*line(text, 0), error);
  if (!schedule) {
    fuzz::check(!error.empty(), "try_parse failed without a message", text);
    return 0;
  }
  TimePoint after = sys_days{year{2026} / 3 / 8} + hours{7};
  if (const auto l = line(text, 1); l && !l->empty()) {
    const auto t = policy::parse_timestamp(*l);
    if (!t) return 0;
    after = *t;
  }
  const date::time_zone* zone = nullptr;
  try {
    const auto l = line(text, 2);
    zone = &policy::find_time_zone(l && !l->empty() ? *l : "America/New_York");
  } catch (const Error&) {
    return 0;  // an unknown zone
  }

  const auto fires = schedule->next_n(after, *zone, 4);
  if (after < kLatestSearchStart) fuzz::check(!fires.empty(), "a valid schedule never fires", text);
  TimePoint previous = after;
  for (const auto t : fires) {
    fuzz::check(t > previous, "fire times not strictly increasing", text);
    fuzz::check(floor<seconds>(t) == t, "fire time not a whole second", text);
    if (t - milliseconds{1} < kLatestSearchStart) {
      const auto again = schedule->next_after(t - milliseconds{1}, *zone);
      fuzz::check(again && *again == t, "next_after(t - 1ms) is not t", text);
    }
    previous = t;
  }
  return 0;
}
