#include "policy/sweep_plan.hpp"

#include <algorithm>
#include <set>

namespace hostsweep::policy {
namespace {

bool settles(AckStatus status) { return status == AckStatus::completed || status == AckStatus::failed; }

MessageStatus settled_as(AckStatus status) {
  return status == AckStatus::failed ? MessageStatus::failed : MessageStatus::completed;
}

void keep_earliest(std::optional<TimePoint>& earliest, TimePoint t) {
  if (!earliest || t < *earliest) earliest = t;
}

// The acked rows as this pass leaves them, and the new due time of those it reschedules.
struct RowsAfter {
  std::map<std::string, MessageState> rows;
  std::map<std::string, TimePoint> rescheduled;
};

// The finished rows whose series this pass schedules: those already finished, and those this
// pass settles or fails. A row finishing now wakes a container iff it was a pending trigger.
std::vector<FinishedRecurring> finished_after(const SweepFacts& facts, const RowsAfter& after) {
  std::set<std::string> triggers;
  for (const auto& p : facts.inbound.state.pending) triggers.insert(p.id);
  std::vector<FinishedRecurring> finished = facts.inbound.finished_recurring;
  for (const auto& [id, row] : after.rows) {
    const auto& before = facts.inbound.acked_messages.at(id);
    bool finishes_now = before.status == MessageStatus::pending &&
                        (row.status == MessageStatus::completed || row.status == MessageStatus::failed);
    if (finishes_now && row.recurrence) finished.push_back({id, *row.recurrence, triggers.count(id) > 0});
  }
  return finished;
}

// What is due once the steps are done: the pending triggers this pass leaves pending, at their
// (possibly new) time, and the first run of each series it schedules that wakes a container.
void plan_due(const SweepFacts& facts, const RowsAfter& after, const std::vector<FinishedRecurring>& finished,
              SweepPlan& plan) {
  for (const auto& p : facts.inbound.state.pending) {
    std::optional<TimePoint> due_at = p.due_at;
    if (auto row = after.rows.find(p.id); row != after.rows.end()) {
      if (row->second.status != MessageStatus::pending) continue;  // settled or failed by this pass
      if (auto t = after.rescheduled.find(p.id); t != after.rescheduled.end()) due_at = t->second;
    }
    if (!due_at || *due_at <= facts.now) plan.due_ids.push_back(p.id);
    else keep_earliest(plan.next_due, *due_at);
  }
  for (const auto& f : plan.fan_outs) {
    auto row = std::find_if(finished.begin(), finished.end(), [&](const auto& r) { return r.id == f.message_id; });
    if (f.next && row != finished.end() && row->trigger) keep_earliest(plan.next_due, *f.next);
  }
}

}  // namespace

const date::time_zone& recurrence_zone(const SweepPolicy& policy) {
  return policy.zone ? *policy.zone : *date::locate_zone("UTC");
}

std::vector<Settlement> decide_settlements(const std::vector<Ack>& acks,
                                           const std::map<std::string, MessageState>& inbound) {
  std::vector<Settlement> out;
  for (const auto& ack : acks) {
    if (!settles(ack.status)) continue;
    auto row = inbound.find(ack.message_id);
    if (row == inbound.end() || row->second.status != MessageStatus::pending) continue;
    out.push_back({ack.message_id, settled_as(ack.status)});
  }
  return out;
}

std::vector<std::string> claimed_ids(const std::vector<Ack>& acks) {
  std::vector<std::string> ids;
  for (const auto& ack : acks) {
    if (ack.status == AckStatus::processing) ids.push_back(ack.message_id);
  }
  return ids;
}

std::vector<AckFact> ack_facts(const std::vector<Ack>& acks) {
  std::vector<AckFact> out;
  out.reserve(acks.size());
  for (const auto& ack : acks) out.push_back({ack.message_id, to_string(ack.status), ack.status_changed});
  return out;
}

SweepPlan plan_sweep(const SweepPolicy& policy, const SweepFacts& facts) {
  SweepPlan plan;
  plan.settlements = decide_settlements(facts.acks, facts.inbound.acked_messages);
  RowsAfter after{facts.inbound.acked_messages, {}};
  for (const auto& s : plan.settlements) after.rows.at(s.message_id).status = s.status;

  if (facts.container_running) {
    if (facts.container_started_at) {
      plan.stuck = decide_stuck(policy.stuck, LivenessFacts{facts.now, *facts.container_started_at,
                                                            facts.heartbeat_mtime, ack_facts(facts.acks), facts.tool});
    }
  } else {
    plan.orphan_claims = claimed_ids(facts.acks);
    for (const auto& id : plan.orphan_claims) {
      auto row = after.rows.find(id);
      if (!facts.retry_orphans || row == after.rows.end()) continue;  // only the claim goes
      auto decision = decide_retry(policy.retry, row->second, facts.now);
      if (decision.action == RetryAction::retry) after.rescheduled[id] = decision.process_after;
      if (decision.action == RetryAction::fail) row->second.status = MessageStatus::failed;
      plan.retries.push_back({id, std::move(decision)});
    }
  }

  const auto finished = finished_after(facts, after);
  plan.fan_outs = plan_fan_out(finished, recurrence_zone(policy), facts.now);
  plan_due(facts, after, finished, plan);
  plan.wake = !plan.due_ids.empty() && !facts.container_running;
  return plan;
}

}  // namespace hostsweep::policy
