#pragma once
// Crash-loop protection (FAILURE-MODES.md 8): a container that cannot start, or that ends
// without doing any work, delays the session's next start exponentially, up to a cap; one
// that did work, or stayed up long enough, resets the delay. Pure.

#include "hostsweep/policy/settings.hpp"
#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::policy {

struct ContainerRun {
  bool started = true;     // false: the start itself failed
  bool did_work = false;   // it settled at least one message
  Duration uptime{0};
};

struct StartBackoff {
  int failures = 0;        // consecutive bad runs, after this one
  Duration delay{0};       // wait this long before the next start (0: none)
};

StartBackoff next_start_backoff(const StartBackoffPolicy& policy, int failures_before, const ContainerRun& run);

}  // namespace hostsweep::policy
