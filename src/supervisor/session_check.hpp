#pragma once
// Internal: the blocking half of the supervisor. One check reads and writes a session's files
// (on the database pool, never on the caller's executor) and returns what it found; the
// supervisor acts on the result on its own executor.

#include <optional>
#include <string>
#include <vector>

#include "hostsweep/error.hpp"
#include "hostsweep/os/session_lock.hpp"
#include "hostsweep/policy/sweep_plan.hpp"
#include "hostsweep/store/inbound_store.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::supervisor::detail {

struct CheckInput {
  store::SessionFiles files;
  policy::SweepPolicy policy;
  TimePoint now;
  // Our container runs (or is being stopped): sync and judge it; never touch outbound.db.
  bool container_alive = false;
  std::optional<TimePoint> container_started_at;
  // Our container has exited and we still hold its lock: clean up under it.
  std::optional<os::SessionLock> held_lock;
  // A container may be started if work is due: prepare for it and hand the lock back.
  bool may_start = false;
  // At shutdown an interrupted message keeps its tries: its claim is deleted, not retried.
  bool retry_orphans = true;
  // This is the cleanup after our container's exit (echoed in the result).
  bool cleanup = false;
};

struct CheckResult {
  bool cleanup = false;  // the input's flag: this result completes a container's cleanup
  std::optional<Error> error;
  std::vector<policy::Settlement> settled;
  std::vector<policy::PlannedRetry> retries;
  int claims_deleted = 0;
  std::vector<policy::FanOut> fan_outs;
  store::InboundSummary summary;
  std::optional<policy::StuckDecision> stuck;
  std::optional<os::SessionLock> start_lock;  // set: ready to start (stale heartbeat removed, outbound.db present)
  std::optional<os::LockHolder> held_elsewhere;  // another process holds the lock
  bool lock_unknown_holder = false;             // held, but the holder recorded nothing readable
};

CheckResult run_check(CheckInput input) noexcept;

}  // namespace hostsweep::supervisor::detail
