#pragma once
// The one composition of a sweep: what a pass does to one session, and why, as a pure function
// of what was read. `hostsweep explain` prints the plan; sweep::run_pass reads the same facts
// (or keeps them from its previous pass), asks for the same plan and applies it step by step,
// each write re-decided inside its own transaction, so that a concurrent writer can only make a
// step do less (a row settled or rescheduled meanwhile is left as it is), never something else.
//
// Order (PROTOCOL.md, "What the host does"), with one deliberate change: the crashed-container
// cleanup runs as soon as the host has observed that no container runs, *before* the wake.
// The reference woke first so that the fresh container would delete the orphan claims; but
// then a message that crashes every container is never counted as tried. Here the orphan is
// retried once (FAILURE-MODES.md 3: idempotent), its claim deleted, and the wake follows.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy/recurrence.hpp"
#include "hostsweep/policy/settings.hpp"
#include "policy/retry_policy.hpp"
#include "policy/status.hpp"
#include "policy/stuck_policy.hpp"

namespace hostsweep::policy {

// The zone recurrences are computed in.
const date::time_zone& recurrence_zone(const SweepPolicy& policy);

// An ack that settles its inbound row: completed -> completed, failed -> failed.
struct Settlement {
  std::string message_id;
  MessageStatus status = MessageStatus::completed;  // completed or failed
};

// Acks whose inbound row is still pending settle it; anything else (already settled, paused,
// unknown id, a status other than completed/failed) is left alone, so syncing is idempotent.
std::vector<Settlement> decide_settlements(const std::vector<Ack>& acks,
                                           const std::map<std::string, MessageState>& inbound);

// The ids of `processing` acks.
std::vector<std::string> claimed_ids(const std::vector<Ack>& acks);

// The acks as decide_stuck takes them (AckFact: the status as text).
std::vector<AckFact> ack_facts(const std::vector<Ack>& acks);

// A pending message that wakes a container (trigger = 1), and from when.
struct PendingTrigger {
  std::string id;
  std::optional<TimePoint> due_at;  // nullopt: no process_after (due at once) or unreadable
  bool unreadable = false;          // process_after is there but unparseable
};

// Which messages wait, as read. Which of them are due is a question for a clock
// (store::summarize), so a state read once can be judged again later.
struct InboundState {
  std::map<std::string, int> count_by_status;  // by the status text, for output
  std::vector<PendingTrigger> pending;         // pending rows with trigger = 1
};

// What a pass reads of inbound.db, in one snapshot.
struct InboundFacts {
  // The rows an ack can act on: those of the claimed ids, and of the other acked ids the
  // ones still pending (a settled row's ack decides nothing). Unknown ids are absent.
  std::map<std::string, MessageState> acked_messages;
  std::vector<FinishedRecurring> finished_recurring;  // finished rows still carrying a recurrence
  InboundState state;
};

struct SweepFacts {
  TimePoint now;
  bool container_running = false;
  std::optional<TimePoint> container_started_at;  // when running, if known
  std::optional<TimePoint> heartbeat_mtime;
  std::vector<Ack> acks;
  std::optional<ToolFact> tool;
  InboundFacts inbound;
  // The caller's, not the files': false at shutdown, when an interrupted message keeps its
  // tries (its claim is deleted, not retried).
  bool retry_orphans = true;
};

struct PlannedRetry {
  std::string message_id;
  RetryDecision decision;
};

struct SweepPlan {
  std::vector<Settlement> settlements;
  // Running container: its liveness verdict (nullopt when its start time is unknown).
  std::optional<StuckDecision> stuck;
  // No container: what happens to each orphan claim's message (known ids only), and the
  // claims then deleted.
  std::vector<PlannedRetry> retries;
  std::vector<std::string> orphan_claims;
  // Recurring series whose finished row schedules the next occurrence (or ends the series).
  std::vector<FanOut> fan_outs;
  // After the steps above: what is due, when the next one is, and whether a container would
  // be woken for it.
  std::vector<std::string> due_ids;
  std::optional<TimePoint> next_due;
  bool wake = false;
};

SweepPlan plan_sweep(const SweepPolicy& policy, const SweepFacts& facts);

}  // namespace hostsweep::policy
