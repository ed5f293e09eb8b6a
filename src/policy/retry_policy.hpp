#pragma once
// What to do with a message whose container died holding its claim: retry it later with
// exponential backoff, fail it at the retry limit, or leave it because a retry is already
// scheduled (retrying is idempotent: FAILURE-MODES.md 3). Pure: `now` is a parameter.

#include <optional>
#include <string>

#include "policy/status.hpp"
#include "hostsweep/policy/settings.hpp"
#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::policy {

// The retry-relevant columns of one messages_in row, as read.
struct MessageState {
  std::string id;
  MessageStatus status = MessageStatus::pending;
  int tries = 0;                             // messages_in.tries
  std::optional<std::string> process_after;  // raw text; may be unparseable
  std::optional<std::string> recurrence;     // a cron expression, for recurring series
};

enum class RetryAction {
  leave,  // not pending any more, or a retry is already scheduled: nothing to do
  retry,  // tries + 1, process_after = now + backoff
  fail,   // status = 'failed'
};

const char* to_string(RetryAction a) noexcept;  // "leave", "retry", "fail"

struct RetryDecision {
  RetryAction action = RetryAction::leave;
  int new_tries = 0;              // retry: the tries value to write
  Duration backoff{0};            // retry: the wait before the next attempt
  TimePoint process_after{};      // retry: now + backoff
  std::string reason;             // one line for logs and `explain`
};

// backoff_base * 2^tries, capped. tries < 0 counts as 0.
Duration retry_backoff(const RetryPolicy& policy, int tries);

RetryDecision decide_retry(const RetryPolicy& policy, const MessageState& message, TimePoint now);

}  // namespace hostsweep::policy
