#include "hostsweep/sweep/session_sweep.hpp"

#include "hostsweep/os/session_lock.hpp"
#include "hostsweep/store/outbound_store.hpp"

namespace hostsweep::sweep {
namespace {

std::optional<policy::StuckDecision> judge_running(const store::SessionFiles& files, const policy::StuckPolicy& policy,
                                                   const store::OutboundSnapshot& outbound, TimePoint now) {
  auto holder = os::SessionLock::read_holder(files.lock());
  if (!holder || !holder->since) return std::nullopt;
  return policy::decide_stuck(policy, {now, *holder->since, store::read_heartbeat(files), outbound.acks, outbound.tool});
}

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

SweepOutcome sweep_once(const store::SessionFiles& files, const policy::SweepPolicy& policy, TimePoint now) {
  SweepOutcome outcome;
  auto lock = os::SessionLock::try_acquire(files.lock());
  outcome.container_running = !lock;
  auto outbound = store::read_outbound(files);
  outcome.settled = store::settle_acks(files, outbound.acks);
  if (lock) {
    auto claims = policy::claimed_ids(outbound.acks);
    outcome.retries = store::retry_orphans(files, claims, policy.retry, now);
    outcome.claims_deleted = store::delete_orphan_claims(files, claims, *lock);
  } else {
    outcome.stuck = judge_running(files, policy.stuck, outbound, now);
  }
  outcome.fan_outs = store::fan_out_recurrences(files, policy::recurrence_zone(policy), now);
  outcome.after = store::summarize_inbound(files, now);
  return outcome;
}

}  // namespace hostsweep::sweep
