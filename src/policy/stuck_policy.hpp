#pragma once
// Whether a running container is stuck and must be killed. Pure: every fact, `now`
// included, is a parameter, and the decision carries its reason and the numbers behind it.
// The rules are judged on ages (LifeSigns), so that the same rules serve the files' wall-clock
// view and the supervisor's steady-clock observations.
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

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hostsweep/policy/settings.hpp"
#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::policy {

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

// A container's signs of life as ages on one clock, at the instant of judgement. Two sources
// fill it: the files alone, on the wall clock (signs_from_files: `explain`, `sweep --once`),
// and the supervisor's own observations, on the steady clock (LifeObserver).
struct LifeSigns {
  struct Claim {
    std::string message_id;
    Duration age{0};         // since it was claimed
    bool life_since = false; // a sign of life came after it
  };
  Duration since_start{0};             // since the container started
  std::optional<Duration> since_life;  // since its last sign of life; nullopt: none yet
  bool heartbeat_seen = false;         // it has touched its heartbeat since it started
  std::vector<Claim> claims;           // its own processing claims
  int ignored_claims = 0;              // unparseable, or a predecessor's: never held against it
  Duration declared_timeout{0};        // its tool in flight's declared timeout, capped; 0: none
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
  // Healthy only: how long until this container is stuck if it shows no further sign of life.
  // The supervisor arms its liveness timer for then.
  Duration remaining{0};
  // Healthy, judged on the wall clock (decide_stuck): that instant.
  std::optional<TimePoint> deadline;
};

// The rules above, on signs of life of either source.
StuckDecision judge_liveness(const StuckPolicy& policy, const LifeSigns& signs);

// Signs of life as the files tell them, at facts.now. A timestamp in the future counts as now:
// it buys nothing (FAILURE-MODES.md 19).
LifeSigns signs_from_files(const StuckPolicy& policy, const LivenessFacts& facts);

// judge_liveness(signs_from_files(...)), with the deadline as a wall-clock instant.
StuckDecision decide_stuck(const StuckPolicy& policy, const LivenessFacts& facts);

// What the supervisor has observed of its own running container, on the steady clock
// (FAILURE-MODES.md 19): a sign of life is a *change* the supervisor saw (the heartbeat's mtime
// moved, an ack or claim appeared or changed, the tool row changed), dated when it saw it. What
// the container wrote as a time only decides, at the first look, whether a row is this
// container's or a predecessor's; it never dates anything. So a timestamp in the future buys
// nothing, and a step of the wall clock either way changes no age.
class LifeObserver {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  LifeObserver() = default;
  LifeObserver(SteadyTime started, TimePoint started_wall) : started_(started), started_wall_(started_wall) {}

  // One look at the files, taken at `at`. `files_read`: false when outbound.db could not be read
  // (its acks and tool row are then unknown, not gone: the last known ones stand).
  void observe(const StuckPolicy& policy, const LivenessFacts& facts, bool files_read, SteadyTime at);
  // A look at the heartbeat alone (its file changed), taken at `at`: nullopt when it is not a
  // regular file. The acks and tool row stand as last seen.
  void observe_heartbeat(std::optional<TimePoint> mtime, SteadyTime at);

  // The signs as of `now` (no later than the last observation makes no difference).
  LifeSigns signs(SteadyTime now) const;

 private:
  void saw_life(SteadyTime at);
  bool see_heartbeat(std::optional<TimePoint> mtime, SteadyTime at);  // true: a fresh one

  struct AckSeen {
    std::string status;
    std::string status_changed;
    bool operator==(const AckSeen&) const = default;
  };
  struct ToolSeen {
    std::optional<std::string> current_tool;
    std::optional<std::int64_t> declared_timeout_ms;
    std::optional<std::string> tool_started_at;
    std::string updated_at;
    bool operator==(const ToolSeen&) const = default;
  };

  SteadyTime started_{};
  TimePoint started_wall_{};
  bool looked_ = false;
  std::optional<SteadyTime> last_life_;
  bool heartbeat_seen_ = false;
  std::optional<TimePoint> heartbeat_;
  bool heartbeat_looked_ = false;
  std::map<std::string, AckSeen> acks_;
  struct ClaimSeen {
    SteadyTime seen;
    bool followed = false;  // a newer sign of life came in the same look
  };
  std::map<std::string, ClaimSeen> claims_;  // this container's claims, when first seen
  int ignored_claims_ = 0;
  std::optional<ToolSeen> tool_;
  bool tool_is_ours_ = false;
  Duration declared_{0};
};

}  // namespace hostsweep::policy
