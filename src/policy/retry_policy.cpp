#include "policy/retry_policy.hpp"

#include <fmt/format.h>

namespace hostsweep::policy {

const char* to_string(RetryAction a) noexcept {
  switch (a) {
    case RetryAction::leave: return "leave";
    case RetryAction::retry: return "retry";
    case RetryAction::fail: return "fail";
  }
  return "unknown";
}

Duration retry_backoff(const RetryPolicy& policy, int tries) {
  Duration backoff = policy.backoff_base;
  // Stops at the cap, so an absurd `tries` from an untrusted file costs nothing.
  for (int i = 0; i < tries && backoff > Duration::zero() && backoff < policy.backoff_cap; ++i) backoff *= 2;
  return std::min(backoff, policy.backoff_cap);
}

RetryDecision decide_retry(const RetryPolicy& policy, const MessageState& message, TimePoint now) {
  RetryDecision decision;
  if (message.status != MessageStatus::pending) {
    decision.reason = message.status == MessageStatus::unknown
                          ? "status is not one the host knows: left alone"
                          : fmt::format("status is '{}', not pending: nothing to retry", to_string(message.status));
    return decision;
  }
  if (message.process_after) {
    // An unparseable process_after is no reason to skip: the retry overwrites it.
    if (auto due = parse_timestamp(*message.process_after); due && *due > now) {
      decision.reason = fmt::format("already rescheduled for {} (in {}): retry is idempotent",
                                    format_iso8601(*due), format_duration(*due - now));
      return decision;
    }
  }
  if (message.tries >= policy.max_tries) {
    decision.action = RetryAction::fail;
    decision.reason = fmt::format("tried {} times (limit {}): failed", message.tries, policy.max_tries);
    return decision;
  }
  decision.action = RetryAction::retry;
  decision.new_tries = message.tries + 1;
  decision.backoff = retry_backoff(policy, message.tries);
  decision.process_after = now + decision.backoff;
  decision.reason = fmt::format("retry {} of {} in {} (at {})", decision.new_tries, policy.max_tries,
                                format_duration(decision.backoff), format_iso8601(decision.process_after));
  return decision;
}

}  // namespace hostsweep::policy
