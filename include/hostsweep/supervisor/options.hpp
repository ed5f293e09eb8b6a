#pragma once
// Every setting of the supervisor, with the defaults `hostsweep run --help` documents.

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "hostsweep/os/cgroup.hpp"
#include "hostsweep/policy/start_backoff.hpp"
#include "hostsweep/policy/sweep_plan.hpp"
#include "hostsweep/runtime/container_runtime.hpp"
#include "hostsweep/supervisor/clock.hpp"

namespace hostsweep::supervisor {

struct SupervisorOptions {
  policy::SweepPolicy policy;                 // liveness windows and message retries
  policy::StartBackoffPolicy start_backoff;   // crash-loop protection
  runtime::RuntimeOptions runtime;            // what a container is
  Duration sweep_interval = std::chrono::seconds{60};  // the safety net under the events
  Duration kill_grace = std::chrono::seconds{10};      // SIGTERM (or the runtime's stop), then SIGKILL
  Duration stop_timeout = std::chrono::seconds{30};    // a stop gives up this long after the kill grace
  std::size_t database_threads = 2;           // the pool that runs SQLite work
  bool watch_files = true;                    // inotify; false: every session is polled at the sweep
  std::size_t max_watches = 0;                // soft cap on inotify watches (0: the kernel's limit)
  std::string timezone;                       // for recurring work ("" = the host's zone)
  os::CgroupSetting cgroup;                   // a cgroup per container: auto, off, or a parent path
  os::CgroupLimits limits;                    // per container, when the controllers are delegated
  std::optional<uid_t> run_as_uid;            // containers run as this user...
  std::optional<gid_t> run_as_gid;            // ...and group (the process runtime isolates nothing)
  // A container with no claim and nothing due, silent this long, is stopped (container.stopped
  // reason=idle), not killed as stuck. Unset: the ceiling.
  std::optional<Duration> idle_timeout;
  int start_failure_alert = 3;                // session.start_failing after this many bad runs in a row (0: never)
  std::shared_ptr<Clock> clock;               // null: the system's clocks
};

}  // namespace hostsweep::supervisor
