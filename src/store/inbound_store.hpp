#pragma once
// The host's operations on a session's inbound.db. Writes run in one IMMEDIATE transaction
// each; a call that finds nothing to write takes no write lock. Opening the file upgrades an
// older schema first (the only write a reading call may make). Errors: hostsweep::Error
// (not_found, corrupt_file, io_error, invalid_argument, already_exists).
//
// Two ways in: an InboundDb, one connection for a pass that does several things (the sweep's
// pass opens the file once), or the free functions below, which open, do one thing and close.
// Either way a connection is short-lived (PROTOCOL.md invariant 3).
//
// Thread-safety: an InboundDb is used by one thread at a time; the free functions share no
// state. SQLite's locking (busy_timeout) serialises writers across threads and processes.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/recurrence.hpp"
#include "policy/sweep_plan.hpp"
#include "hostsweep/store/layout.hpp"
#include "hostsweep/store/messages.hpp"

namespace hostsweep::store {

// enqueue and summarize_inbound: store/messages.hpp (public).

// What a summary is made of, as read (policy/sweep_plan.hpp).
using policy::InboundState;
using policy::PendingTrigger;

// Pure: the summary of `state` at `now`.
InboundSummary summarize(const InboundState& state, TimePoint now);

// The retry-relevant columns of the given messages; ids that do not exist are absent.
std::map<std::string, policy::MessageState> read_message_states(const SessionFiles& files,
                                                                const std::vector<std::string>& ids);

// Sync acks: settles each pending message whose ack says completed or failed. Idempotent.
// Returns what it changed.
std::vector<policy::Settlement> settle_acks(const SessionFiles& files, const std::vector<policy::Ack>& acks);

// Crashed-container cleanup, inbound half: for each claimed message, retry it with backoff,
// fail it at the retry limit, or leave it (already rescheduled, or no longer pending), as
// policy::decide_retry says, in one transaction. Returns every decision.
std::vector<policy::PlannedRetry> retry_orphans(const SessionFiles& files, const std::vector<std::string>& message_ids,
                                                const policy::RetryPolicy& policy, TimePoint now);

// Finished (completed or failed) rows that still carry a recurrence. Paused rows never appear.
std::vector<policy::FinishedRecurring> read_finished_recurring(const SessionFiles& files);

// Recurrence fan-out, in one transaction: for each finished recurring row, insert its series'
// next occurrence (new id, even seq, same kind, content, routing, trigger, series_id and
// recurrence; process_after = the next fire time) and clear the finished row's recurrence.
// A crash leaves both or neither; a second call finds nothing left to do. Returns the plan it
// applied, errors included (their rows' recurrence is cleared too).
std::vector<policy::FanOut> fan_out_recurrences(const SessionFiles& files, const date::time_zone& zone, TimePoint now);

// An operator's retry (`hostsweep message retry`): a failed message back to pending with tries
// 0 and no process_after, so that it is due at once, in one transaction. Error(not_found) when
// there is no such message; Error(invalid_argument) when it is not failed (pending, completed,
// paused): then nothing changes. Only inbound.db is written; a container's failed ack for the
// message, which would settle it again, is the caller's to remove (store::delete_acks).
void retry_failed(const SessionFiles& files, const std::string& message_id);

// One open connection to a session's inbound.db. See the free functions above for what each
// operation does.
class InboundDb {
 public:
  // Opens the file (which must exist) and upgrades an older schema.
  explicit InboundDb(const SessionFiles& files);
  ~InboundDb();
  InboundDb(InboundDb&&) noexcept;
  InboundDb& operator=(InboundDb&&) noexcept;

  Enqueued enqueue(const NewMessage& message, TimePoint now);
  InboundState read_state();
  // What a sweep's plan needs of this file, for these acks, in one read transaction.
  policy::InboundFacts read_facts(const std::vector<policy::Ack>& acks);
  // The ids of every pending message, trigger or not: the messages an ack can still settle.
  std::vector<std::string> pending_ids();
  InboundSummary summarize(TimePoint now) { return store::summarize(read_state(), now); }
  std::map<std::string, policy::MessageState> message_states(const std::vector<std::string>& ids);
  std::vector<policy::Settlement> settle_acks(const std::vector<policy::Ack>& acks);
  // Applies planned settlements in one transaction, each only if its row is still pending
  // (another writer may have settled or paused it since the plan). Returns those applied.
  std::vector<policy::Settlement> settle(const std::vector<policy::Settlement>& planned);
  std::vector<policy::PlannedRetry> retry_orphans(const std::vector<std::string>& message_ids,
                                                  const policy::RetryPolicy& policy, TimePoint now);
  std::vector<policy::FinishedRecurring> finished_recurring();
  std::vector<policy::FanOut> fan_out_recurrences(const date::time_zone& zone, TimePoint now);
  // The fan-out of the planned rows only, re-planned in its transaction from what they are
  // then: a row whose series another pass has scheduled meanwhile is left alone.
  std::vector<policy::FanOut> fan_out(const std::vector<policy::FanOut>& planned, const date::time_zone& zone,
                                      TimePoint now);
  void retry_failed(const std::string& message_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hostsweep::store
