#pragma once
// Whether a running container is stuck and must be killed. Pure: every fact, `now`
// included, is a parameter, and the decision carries its reason and the numbers behind it.
//
// The reference's two rules, with what FAILURE-MODES.md 1, 2 and 5 add:
//  * ceiling: no sign of life for max(ceiling, declared tool timeout) -> kill.
//  * claim stuck: a `processing` claim older than max(claim_tolerance, declared tool timeout)
//    with no sign of life after it -> kill.
//  * Only signs of life given after this container started count, for or against it: an older
//    heartbeat, claim or container_state row belongs to a predecessor and is ignored (1, 2).
//  * Signs of life are the heartbeat's mtime, the container's claims and acks, and its
//    container_state updates: a claim is itself a sign of life (5).
//  * Until its first heartbeat, a container gets a start-up grace from its start (5).
//  * A tool in flight (any tool, not only Bash) widens both windows to its declared timeout,
//    capped by max_declared_timeout, so a container cannot make itself unkillable.
//  * (deliberate) The ceiling also runs from the container's start when it has never touched
//    its heartbeat, so a container that never shows life is reaped after `ceiling` instead of
//    living forever. The reference skips the ceiling when there is no heartbeat file.
//  * An unparseable timestamp is never a reason to kill: such a claim is ignored.

#include <optional>
#include <string>
#include <vector>

#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::policy {

struct StuckPolicy {
  Duration ceiling = std::chrono::minutes{30};
  Duration claim_tolerance = std::chrono::seconds{60};
  Duration startup_grace = std::chrono::minutes{3};
  Duration max_declared_timeout = std::chrono::hours{2};
};

// One processing_ack row, as read from outbound.db.
struct AckFact {
  std::string message_id;
  std::string status;          // processing | completed | failed
  std::string status_changed;  // raw text
};

// The container_state row, as read (nullopt when the table or row is missing).
struct ToolFact {
  std::optional<std::string> current_tool;
  std::optional<std::int64_t> declared_timeout_ms;
  std::optional<std::string> tool_started_at;
  std::string updated_at;
};

struct LivenessFacts {
  TimePoint now;
  TimePoint container_started_at;
  std::optional<TimePoint> heartbeat_mtime;  // nullopt: no .heartbeat file
  std::vector<AckFact> acks;
  std::optional<ToolFact> tool;
};

enum class StuckVerdict { healthy, kill_ceiling, kill_claim_stuck };

const char* to_string(StuckVerdict v) noexcept;  // "healthy", "ceiling", "claim-stuck"

struct StuckDecision {
  StuckVerdict verdict = StuckVerdict::healthy;
  std::string reason;                     // one line for logs and `explain`
  std::optional<std::string> message_id;  // claim-stuck: the claim that tripped it
  Duration silence{0};                    // how long the relevant window has been silent
  Duration window{0};                     // the window it was measured against
  Duration declared_timeout{0};           // the tool timeout that widened it (capped), or 0
  // Healthy only: when this container becomes stuck if it shows no further sign of life.
  // The supervisor arms its kill timer for this instant.
  std::optional<TimePoint> deadline;
};

StuckDecision decide_stuck(const StuckPolicy& policy, const LivenessFacts& facts);

}  // namespace hostsweep::policy
