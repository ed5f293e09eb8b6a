#pragma once
// One session, one pass: read what the plan needs, and apply the steps that need no
// container (sync acks; crashed-container cleanup when no container runs). Used by
// `hostsweep sweep --once` and `hostsweep explain`; the supervisor runs the same steps.
//
// Blocking (SQLite, file system): never call on an event loop thread.

#include <optional>
#include <vector>

#include "hostsweep/policy/sweep_plan.hpp"
#include "hostsweep/store/inbound_store.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::sweep {

// Everything the plan reads, with no side effect. A container runs when someone holds the
// session lock; its start time is what the holder recorded.
policy::SweepFacts gather_facts(const store::SessionFiles& files, TimePoint now);

struct SweepOutcome {
  bool container_running = false;
  std::vector<policy::Settlement> settled;
  std::vector<policy::PlannedRetry> retries;
  int claims_deleted = 0;
  std::vector<policy::FanOut> fan_outs;        // recurring series scheduled (or ended)
  std::optional<policy::StuckDecision> stuck;  // a running container's verdict (not acted on here)
  store::InboundSummary after;                 // the inbound state the pass left
};

// Sync acks; then, if no container runs (the session lock is free, and held during the
// cleanup so that no one starts one meanwhile), retry or fail the orphan claims' messages and
// delete the claims. A crash between the two writes is harmless: the next pass finds the
// claims again and decide_retry leaves the already rescheduled messages alone. Then the
// recurrence fan-out, in the policy's zone.
SweepOutcome sweep_once(const store::SessionFiles& files, const policy::SweepPolicy& policy, TimePoint now);

}  // namespace hostsweep::sweep
