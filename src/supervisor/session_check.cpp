#include "session_check.hpp"

#include <fmt/format.h>

#include "hostsweep/store/outbound_store.hpp"

namespace hostsweep::supervisor::detail {
namespace {

void check_running(const CheckInput& in, CheckResult& out) {
  auto outbound = store::read_outbound(in.files);
  out.settled = store::settle_acks(in.files, outbound.acks);
  out.fan_outs = store::fan_out_recurrences(in.files, policy::recurrence_zone(in.policy), in.now);
  out.summary = store::summarize_inbound(in.files, in.now);
  if (in.container_started_at) {
    out.stuck = policy::decide_stuck(in.policy.stuck, {in.now, *in.container_started_at, store::read_heartbeat(in.files),
                                                       std::move(outbound.acks), std::move(outbound.tool)});
  }
}

void check_idle(CheckInput& in, CheckResult& out) {
  std::optional<os::SessionLock> lock = std::move(in.held_lock);
  if (!lock) lock = os::SessionLock::try_acquire(in.files.lock());
  if (!lock) {
    // Someone else runs a container here: sync what is safe (inbound only) and report who.
    out.held_elsewhere = os::SessionLock::read_holder(in.files.lock());
    out.lock_unknown_holder = !out.held_elsewhere;
    out.settled = store::settle_acks(in.files, store::read_outbound(in.files).acks);
    out.fan_outs = store::fan_out_recurrences(in.files, policy::recurrence_zone(in.policy), in.now);
    out.summary = store::summarize_inbound(in.files, in.now);
    return;
  }
  // No container runs and none can start while we hold the lock: the crashed-container cleanup.
  auto outbound = store::read_outbound(in.files);
  out.settled = store::settle_acks(in.files, outbound.acks);
  auto claims = policy::claimed_ids(outbound.acks);
  if (in.retry_orphans) out.retries = store::retry_orphans(in.files, claims, in.policy.retry, in.now);
  out.claims_deleted = store::delete_orphan_claims(in.files, claims, *lock);
  out.fan_outs = store::fan_out_recurrences(in.files, policy::recurrence_zone(in.policy), in.now);
  out.summary = store::summarize_inbound(in.files, in.now);
  if (in.may_start && !out.summary.due_ids.empty()) {
    // A stale heartbeat must not judge the next container (FAILURE-MODES.md 1).
    std::error_code ignored;
    std::filesystem::remove(in.files.heartbeat(), ignored);
    store::ensure_outbound(in.files, *lock);
    out.start_lock = std::move(lock);
  }
}

}  // namespace

CheckResult run_check(CheckInput input) noexcept {
  CheckResult out;
  out.cleanup = input.cleanup;
  try {
    if (input.container_alive) check_running(input, out);
    else check_idle(input, out);
  } catch (const Error& e) {
    out.error = e;
    out.start_lock.reset();
  } catch (const std::exception& e) {
    out.error = Error(Errc::io_error, e.what());
    out.start_lock.reset();
  }
  return out;
}

}  // namespace hostsweep::supervisor::detail
