#include "hostsweep/policy/sweep_plan.hpp"

#include <algorithm>

namespace hostsweep::policy {
namespace {

bool settles(AckStatus status) { return status == AckStatus::completed || status == AckStatus::failed; }

MessageStatus settled_as(AckStatus status) {
  return status == AckStatus::failed ? MessageStatus::failed : MessageStatus::completed;
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
  plan.settlements = decide_settlements(facts.acks, facts.acked_messages);

  // What each settled or retried message is after this pass, for the due computation below.
  std::map<std::string, MessageState> after = facts.acked_messages;
  for (const auto& s : plan.settlements) after[s.message_id].status = s.status;

  if (facts.container_running) {
    if (facts.container_started_at) {
      plan.stuck = decide_stuck(policy.stuck, LivenessFacts{facts.now, *facts.container_started_at,
                                                            facts.heartbeat_mtime, ack_facts(facts.acks), facts.tool});
    }
  } else {
    plan.orphan_claims = claimed_ids(facts.acks);
    for (const auto& id : plan.orphan_claims) {
      auto row = after.find(id);
      if (row == after.end()) continue;  // a claim for a message the host does not know
      auto decision = decide_retry(policy.retry, row->second, facts.now);
      if (decision.action == RetryAction::retry) row->second.process_after = format_iso8601(decision.process_after);
      if (decision.action == RetryAction::fail) row->second.status = MessageStatus::failed;
      plan.retries.push_back({id, std::move(decision)});
    }
  }

  // Rows this pass settles or fails join the finished recurring ones.
  std::vector<FinishedRecurring> finished = facts.finished_recurring;
  for (const auto& [id, row] : after) {
    auto before = facts.acked_messages.find(id);
    bool finishes_now = before->second.status == MessageStatus::pending &&
                        (row.status == MessageStatus::completed || row.status == MessageStatus::failed);
    if (finishes_now && row.recurrence) finished.push_back({id, *row.recurrence});
  }
  plan.fan_outs = plan_fan_out(finished, recurrence_zone(policy), facts.now);

  plan.next_due = facts.next_due;
  for (const auto& f : plan.fan_outs) {
    if (f.next) plan.next_due = plan.next_due ? std::min(*plan.next_due, *f.next) : *f.next;
  }
  for (const auto& id : facts.due_ids) {
    auto row = after.find(id);
    if (row == after.end()) {
      plan.due_ids.push_back(id);
      continue;
    }
    if (row->second.status != MessageStatus::pending) continue;
    auto process_after = row->second.process_after ? parse_timestamp(*row->second.process_after) : std::nullopt;
    if (process_after && *process_after > facts.now) {
      plan.next_due = plan.next_due ? std::min(*plan.next_due, *process_after) : *process_after;
      continue;
    }
    plan.due_ids.push_back(id);
  }
  plan.wake = !plan.due_ids.empty() && !facts.container_running;
  return plan;
}

}  // namespace hostsweep::policy
