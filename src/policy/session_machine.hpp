#pragma once
// The life of one supervised session as a table of stages and events. Pure: no I/O, no Asio,
// no clock but the `now` it is given. The supervisor performs the actions a transition returns
// and feeds what comes of them back as events; every decision about a session is made here.
//
//   idle --triggered--> (check) --start ready--> running --exited--> ending --ended--> cleaning_up
//        --check found an orphan--> stopping (adopted)            ^                     |
//        --check found the lock held--> held_elsewhere            |            cleanup committed
//   running --stuck, idle, shutdown--> stopping --exited----------'                     v
//   backing_off <--a bad run or a failed start-- (cleanup or start) ...  --> idle (or retired)
//   paused (a flag, any stage): a running container is stopped; nothing starts until resumed
//
// A check (one pass over the session's files, on the database pool) runs at most one at a
// time per session; triggers while one runs coalesce into one more. A check or cleanup that
// fails is retried with backoff: no error leaves a session waiting for a trigger that may not
// come. Timers are armed relative to `now` and clamped (FAILURE-MODES.md 17).

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "policy/start_backoff.hpp"
#include "policy/stuck_policy.hpp"
#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::policy {

// No timer waits longer than this: a deadline further away is re-armed by the check it
// triggers then (a time in year 9999 would otherwise overflow the timer and fire at once).
inline constexpr Duration kMaxTimerWait = std::chrono::hours{24};

// How long a problem that the container's end undoes (a hot journal beside it) must last, with
// the container running, before it is said.
inline constexpr Duration kProblemConfirmation = std::chrono::seconds{1};

enum class Stage {
  idle,            // no container; a check may be in flight
  running,         // a container of ours lives
  stopping,        // it was told to stop (the kill grace runs), or it is an orphan being stopped
  ending,          // its first process exited; the rest of it is being killed and awaited
  cleaning_up,     // nothing of it is left: the cleanup check is due, in flight, or retried
  backing_off,     // waiting before the next start (crash-loop protection)
  held_elsewhere,  // another process holds the session lock: looked at again soon
  retired,         // removed from the registry and nothing left to do: to be forgotten
};
const char* to_string(Stage stage) noexcept;

struct MachinePolicy {
  StuckPolicy stuck;
  StartBackoffPolicy start_backoff;
  Duration kill_grace = std::chrono::seconds{10};
  // A container with no claim and nothing due, silent this long, is stopped as idle.
  Duration idle_timeout = std::chrono::minutes{30};
  // session.start_failing after this many consecutive failed starts or idle deaths (0: never).
  int start_failure_alert = 3;
  // How soon a session whose container cannot be verified, or whose lock another process
  // holds, is looked at again.
  Duration unverified_retry = std::chrono::seconds{60};
  Duration held_elsewhere_retry = std::chrono::seconds{1};
};

// What the supervisor as a whole contributes to one session's transition.
struct MachineFacts {
  const MachinePolicy& policy;
  bool stopping = false;  // the supervisor is stopping: nothing new starts
};

// Everything the machine remembers of one session.
struct SessionState {
  Stage stage = Stage::idle;
  bool check_in_flight = false;
  bool check_again = false;   // triggered while a check ran: one more after it
  bool removed = false;       // gone from the registry: no new start, forgotten once idle
  bool paused = false;        // paused by an operator: its container is stopped, none starts
  // Its container was stopped by the host's own will (the supervisor's stop, a pause), not for
  // a fault of its own: its interrupted messages keep their tries, and its end is no bad run.
  bool interrupted = false;
  bool adopted = false;       // the container is a dead supervisor's orphan, not a start of ours
  bool did_work = false;      // the container settled a message
  bool work_due = false;      // the last check that could tell found a message due
  SteadyTime started{};
  SteadyTime exited{};        // when the container's exit was observed
  LifeObserver life;          // what was observed of the running container
  int start_failures = 0;     // consecutive bad runs (start backoff)
  int check_failures = 0;     // consecutive failed checks (retried with backoff)
  bool start_failing = false; // session.start_failing was said; session.recovered is owed
  std::string last_failure;   // how the last bad run ended, for the alert
  std::string last_error;     // the error last reported: each distinct one is said once
  std::string unconfirmed_problem;  // a problem that may pass (a hot journal), not said yet...
  SteadyTime unconfirmed_since{};   // ...first read then; said if still there kProblemConfirmation on
  std::optional<std::string> reported_holder;  // the foreign holder last reported
  std::optional<TimePoint> backoff_until;
  std::optional<TimePoint> next_due;
};

// --- events: what happened ------------------------------------------------------------------

namespace event {

// A reason to look at the session: a file changed, a due time or the liveness deadline came,
// the sweep, a retry, a request.
struct Triggered {};

// A check returned. Exactly one of the lock hand-overs (start_ready, orphan) may be set.
struct CheckDone {
  bool cleanup = false;               // it was the cleanup after a container
  std::optional<std::string> error;   // the pass failed as a whole: nothing was handed over
  std::optional<std::string> problem; // the pass ran, but a file could not be read or written
  bool problem_may_pass = false;      // ...one that the container's end undoes (a hot journal)
  bool start_ready = false;           // work is due: the lock is handed over for a start
  bool orphan = false;                // a dead supervisor's container lives: its lock handed over
  bool held_elsewhere = false;        // another process holds the lock
  std::string holder;                 // ...described, for the report
  bool settled_work = false;          // the container's acks settled a message
  bool work_due = false;              // a message is due and not claimed
  std::optional<LivenessFacts> liveness;  // our running container: what its files show
  bool outbound_read = true;          // false: its acks and tool row could not be read
  std::optional<TimePoint> next_due;
  SteadyTime at{};                    // when the pass read the files
};

// The heartbeat file changed: its mtime, looked at (lstat) at `at`; nullopt when it is not a
// regular file. Cheaper than a Triggered: the machine judges liveness without a check.
struct HeartbeatTouched {
  std::optional<TimePoint> mtime;
  SteadyTime at{};
};

struct Started {};                     // our container runs
struct StartFailed { std::string why; };
struct Adopted { std::string detail; };      // the orphan is ours to stop
struct AdoptRefused { std::string why; };    // the orphan cannot be verified: never signalled
struct Exited { std::string status; bool clean = false; };  // its first process ended
struct Ended {};                       // nothing of the container is left
struct KillGraceOver {};
struct BackoffOver {};
struct StopRequested {};               // the supervisor stops (facts.stopping is now true)
struct ForceStop {};                   // a second stop request: kill now
struct Removed {};                     // gone from the registry
struct Paused {};                      // the registry says paused
struct Resumed {};                     // the registry says active again

}  // namespace event

using Event = std::variant<event::Triggered, event::CheckDone, event::HeartbeatTouched, event::Started,
                           event::StartFailed, event::Adopted, event::AdoptRefused, event::Exited, event::Ended,
                           event::KillGraceOver, event::BackoffOver, event::StopRequested, event::ForceStop,
                           event::Removed, event::Paused, event::Resumed>;

// --- actions: what the supervisor is to do ------------------------------------------------------

enum class Timer {
  due,         // the next message becomes due (wall clock)    -> Triggered
  liveness,    // the container would become stuck or idle      -> Triggered
  kill_grace,  // the stop's grace is over                      -> KillGraceOver
  backoff,     // the start backoff is over                     -> BackoffOver
  retry,       // look again (a failed check, a foreign holder) -> Triggered
};
const char* to_string(Timer timer) noexcept;

// What the supervisor reports for a decision (the mechanics' own events, such as
// container.started, it reports itself).
enum class Notice {
  container_killed,    // reason: ceiling | claim-stuck | shutdown | orphan; late: past its deadline
  container_stopped,   // reason: idle | paused
  session_backoff,     // failures, delay
  start_failing,       // failures, reason: how the last run ended
  recovered,           // a start worked again
  cleaned_up,          // duration: from the container's exit to its cleanup committed
  session_error,       // reason
  locked_elsewhere,    // detail: the holder
  session_removed,
  session_paused,
  session_resumed,
};

namespace action {

struct RunCheck {
  bool may_start = false;      // hand the lock over when work is due
  bool cleanup = false;        // this is the cleanup after the container
  bool retry_orphans = true;   // false after a stop or a pause: an interrupted message keeps its tries
};
struct Spawn {};               // start a container under the lock the check handed over
struct Adopt {};               // take over the orphan the check found, under its lock
struct Signal {
  bool kill = false;           // false: the runtime's stop, or SIGTERM; true: SIGKILL, everything
};
struct Arm {
  Timer timer;
  Duration after;              // from now; clamped to kMaxTimerWait
};
struct Cancel { Timer timer; };
struct Emit {
  Notice notice;
  std::string reason;
  std::string detail;
  int failures = 0;      // bad runs in a row (session_backoff, start_failing)
  Duration delay{0};     // until the next start (session_backoff)
  Duration late_by{0};   // past the deadline (container_killed)
  Duration duration{0};  // since the exit (cleaned_up)
};
struct Forget {};              // drop the session

}  // namespace action

// A lock a check handed over and no Spawn or Adopt took is released by the supervisor.
using Action = std::variant<action::RunCheck, action::Spawn, action::Adopt, action::Signal, action::Arm, action::Cancel,
                            action::Emit, action::Forget>;

struct Step {
  SessionState state;
  std::vector<Action> actions;
};

Step transition(SessionState state, const Event& event, const MachineFacts& facts, Now now);

// Whether a stopping supervisor still waits for this session (a container, its cleanup, a check).
bool stop_waits_for(const SessionState& state) noexcept;

}  // namespace hostsweep::policy
