#pragma once
// The policies a supervisor is configured with: plain values, with the defaults of
// `hostsweep run --help`. The decisions that use them (liveness, retries, crash-loop backoff,
// the sweep's plan) are internal; this header is what an embedder sets.

#include <chrono>
#include <string_view>

#include "hostsweep/policy/timestamp.hpp"

namespace date {
class time_zone;  // date/tz.h's; only named here, so an embedder never compiles that header
}

namespace hostsweep::policy {

// When a running container is stuck and killed (FAILURE-MODES.md 1, 2, 5).
struct StuckPolicy {
  Duration ceiling = std::chrono::minutes{30};
  Duration claim_tolerance = std::chrono::seconds{60};
  Duration startup_grace = std::chrono::minutes{3};
  Duration max_declared_timeout = std::chrono::hours{2};
};

// How a message whose container died holding its claim is retried (FAILURE-MODES.md 3).
struct RetryPolicy {
  Duration backoff_base = std::chrono::seconds{5};  // the first retry waits this long
  Duration backoff_cap = std::chrono::hours{1};     // no retry waits longer than this
  int max_tries = 5;                                // a message retried this often is failed
};

// Crash-loop protection (FAILURE-MODES.md 8): how a session's next start is delayed after a bad run.
struct StartBackoffPolicy {
  Duration base = std::chrono::seconds{1};
  Duration cap = std::chrono::minutes{5};
  Duration reset_after = std::chrono::minutes{1};  // an uptime this long counts as a good run
};

struct SweepPolicy {
  StuckPolicy stuck;
  RetryPolicy retry;
  const date::time_zone* zone = nullptr;  // for recurrences; nullptr: UTC
};

// The zone named `name` ("Europe/London"), from the system's IANA database
// (/usr/share/zoneinfo), or for "" the host's zone, falling back to UTC when the host's cannot
// be determined: what SweepPolicy::zone takes. Throws Error(invalid_argument) for an unknown name.
const date::time_zone& find_time_zone(std::string_view name);

}  // namespace hostsweep::policy
