#include "hostsweep/sweep/session_sweep.hpp"

#include "hostsweep/os/session_lock.hpp"
#include "hostsweep/store/outbound_store.hpp"

namespace hostsweep::sweep {
namespace {

std::vector<std::string> acked_ids(const std::vector<policy::AckFact>& acks) {
  std::vector<std::string> ids;
  ids.reserve(acks.size());
  for (const auto& ack : acks) ids.push_back(ack.message_id);
  return ids;
}

}  // namespace

policy::SweepFacts gather_facts(const store::SessionFiles& files, TimePoint now) {
  policy::SweepFacts facts;
  facts.now = now;
  facts.container_running = os::SessionLock::is_held(files.lock());
  if (facts.container_running) {
    if (auto holder = os::SessionLock::read_holder(files.lock())) facts.container_started_at = holder->since;
  }
  facts.heartbeat_mtime = store::read_heartbeat(files);
  auto outbound = store::read_outbound(files);
  facts.acks = std::move(outbound.acks);
  facts.tool = std::move(outbound.tool);
  facts.acked_messages = store::read_message_states(files, acked_ids(facts.acks));
  facts.finished_recurring = store::read_finished_recurring(files);
  auto summary = store::summarize_inbound(files, now);
  facts.due_ids = std::move(summary.due_ids);
  facts.next_due = summary.next_due;
  return facts;
}

PassResult run_pass(PassInput in) {
  PassResult out;
  std::optional<os::SessionLock> lock;
  std::optional<TimePoint> running_since = in.own_container_since;
  if (!running_since) {
    lock = in.held_lock ? std::move(in.held_lock) : os::SessionLock::try_acquire(in.files.lock());
    if (!lock) {
      // Someone else runs a container here: sync what is safe (inbound only) and report who.
      out.held_elsewhere = true;
      out.holder = os::SessionLock::read_holder(in.files.lock());
      if (out.holder) running_since = out.holder->since;
    }
  }
  out.container_running = !lock;

  auto outbound = store::read_outbound(in.files);
  store::InboundDb inbound(in.files);
  out.settled = inbound.settle_acks(outbound.acks);
  if (lock) {
    // No container runs and none can start while we hold the lock: the crashed-container cleanup.
    auto claims = policy::claimed_ids(outbound.acks);
    if (in.retry_orphans) out.retries = inbound.retry_orphans(claims, in.policy.retry, in.now);
    out.claims_deleted = store::delete_orphan_claims(in.files, claims, *lock);
  } else if (running_since) {
    out.stuck = policy::decide_stuck(in.policy.stuck, {in.now, *running_since, store::read_heartbeat(in.files),
                                                       std::move(outbound.acks), std::move(outbound.tool)});
  }
  out.fan_outs = inbound.fan_out_recurrences(policy::recurrence_zone(in.policy), in.now);
  out.summary = inbound.summarize(in.now);

  if (lock && in.may_start && !out.summary.due_ids.empty()) {
    // A stale heartbeat must not judge the next container (FAILURE-MODES.md 1).
    std::error_code ignored;
    std::filesystem::remove(in.files.heartbeat(), ignored);
    if (!outbound.complete) store::ensure_outbound(in.files, *lock);
    out.start_lock = std::move(lock);
  }
  return out;
}

PassResult sweep_once(const store::SessionFiles& files, const policy::SweepPolicy& policy, TimePoint now) {
  return run_pass({files, policy, now});
}

}  // namespace hostsweep::sweep
