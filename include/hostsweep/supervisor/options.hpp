#pragma once
// Every setting of the supervisor, with the defaults `hostsweep run --help` documents.
// Supervisor's constructor checks them and throws hostsweep::Error(invalid_argument) naming the
// first one that is out of range.

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "hostsweep/os/cgroup_settings.hpp"
#include "hostsweep/policy/settings.hpp"
#include "hostsweep/runtime/runtime_options.hpp"
#include "hostsweep/supervisor/clock.hpp"

namespace hostsweep::supervisor {

// Where a container's stdout and stderr go (runtime/container_output.hpp). In every mode they
// are pipes read by the supervisor, never the supervisor's own stdout and stderr, and the
// stderr tail reaches container.exited and session.start_failing.
enum class ContainerLogMode {
  file,     // DATA_DIR/logs/<group>/<session>.log, rotated (os/log_file.hpp)
  journal,  // one container.output event per line, through the event handler (the daemon's log)
  off,      // read and dropped
};
const char* to_string(ContainerLogMode mode) noexcept;

struct ContainerLogOptions {
  ContainerLogMode mode = ContainerLogMode::file;
  std::uint64_t max_bytes = 10ULL << 20;  // one file's cap; rotated before a line would pass it
  int keep = 3;                           // rotated files kept beside the current one
  // journal: lines per second per container beyond which lines are dropped (and counted, in
  // the next line that passes)
  std::uint32_t journal_lines_per_second = 1000;
  // After the container has ended, its pipes are read this long at most (a grandchild may hold
  // them open), then closed.
  Duration drain = std::chrono::milliseconds{200};
};

struct SupervisorOptions {
  // Liveness windows, message retries, and the one time zone of recurring work: policy.zone,
  // null for the host's (UTC when the host has none; policy::find_time_zone resolves a name).
  policy::SweepPolicy policy;
  policy::StartBackoffPolicy start_backoff;   // crash-loop protection
  runtime::RuntimeOptions runtime;            // what a container is
  Duration sweep_interval = std::chrono::seconds{60};  // the safety net under the events
  Duration kill_grace = std::chrono::seconds{10};      // SIGTERM (or the runtime's stop), then SIGKILL
  Duration stop_timeout = std::chrono::seconds{30};    // a stop gives up this long after the kill grace
  // The pool that runs SQLite work: half the CPUs, at least one. On 2 cores two threads beside
  // the caller's loop made a first sweep take twice the CPU and half again the time (BENCHMARKS.md).
  std::size_t database_threads = std::max(1u, std::thread::hardware_concurrency() / 2);
  bool watch_files = true;                    // inotify; false: every session is polled at the sweep
  std::size_t max_watches = 0;                // soft cap on inotify watches (0: the kernel's limit)
  os::CgroupSetting cgroup;                   // a cgroup per container: auto, off, or a parent path
  os::CgroupLimits limits;                    // per container, when the controllers are delegated
  std::optional<uid_t> run_as_uid;            // containers run as this user...
  std::optional<gid_t> run_as_gid;            // ...and group (the process runtime isolates nothing)
  // A container with no claim and nothing due, silent this long, is stopped (container.stopped
  // reason=idle), not killed as stuck. Unset: the ceiling.
  std::optional<Duration> idle_timeout;
  int start_failure_alert = 3;                // session.start_failing after this many bad runs in a row (0: never)
  ContainerLogOptions container_log;          // the containers' stdout and stderr
  std::shared_ptr<Clock> clock;               // null: the system's clocks
};

}  // namespace hostsweep::supervisor
