#pragma once
// What the supervisor reports: one typed event per thing that happened, each with a stable
// name (for logs and metrics) and the numbers behind it. Delivered on the supervisor's
// executor, each through a post (supervisor.hpp, Threading).

#include <optional>
#include <string>

#include "hostsweep/policy/timestamp.hpp"
#include "hostsweep/runtime/exit_status.hpp"

namespace hostsweep::supervisor {

enum class EventKind {
  container_started,       // pid; reason "scheduled" and late_by when woken by a process_after that came
  container_start_failed,  // reason
  container_exited,        // pid, exit, stderr_tail
  container_killed,        // pid, reason: ceiling | claim-stuck | shutdown | orphan; late_by: past the deadline by
  container_stopped,       // pid, reason: idle (no claim, nothing due, silent past idle-timeout) | paused
  message_completed,       // message_id
  message_failed,          // message_id, reason (container-reported, or max tries)
  message_retried,         // message_id, tries, delay
  recurrence_scheduled,    // message_id (the finished row), detail: when the series runs next
  recurrence_invalid,      // message_id, reason: the series ends
  session_backoff,         // failures, delay, reason
  session_start_failing,   // failures: bad runs in a row; reason: how the last one ended (error level);
                           // stderr_tail: the last container's
  session_recovered,       // a container started and worked again after session.start_failing
  session_added,
  session_removed,
  session_locked_elsewhere,  // another process runs this session's container
  session_error,           // reason: a file that could not be read or written
  watch_unavailable,       // reason: inotify unavailable for this session; polled at each sweep
  watch_overflow,          // the kernel dropped events; everything is re-checked
  containment_reduced,     // reason: no cgroup for containers (escaped processes outlive them)
  orphans_stopped,         // detail: docker/podman containers of a dead supervisor were looked for and stopped
  sweep_completed,         // sessions; duration: until its last check returned
  container_output,        // container-log = journal: pid, stream, line
  session_unknown,         // request_check(session_id) named no session, even after a registry reload; reason: why
  container_cleaned_up,    // after a container's end, its cleanup committed; duration: since its exit was observed
  session_paused,          // the registry says paused: its container is stopped, nothing starts
  session_resumed,         // the registry says active again
};

// "container.started", "message.retried", ...
const char* event_name(EventKind kind) noexcept;

// One struct for every kind; each field means one thing, and a kind leaves the fields it does
// not list above empty (docs/EMBEDDING.md, Events, has the table).
struct Event {
  EventKind kind;
  TimePoint at;
  std::string session_id;
  std::string message_id;
  int pid = 0;                              // the container's process (its runtime's, for docker)
  std::optional<runtime::ExitStatus> exit;  // container.exited: how it ended
  std::string reason;                       // a short, stable word or phrase: why
  int tries = 0;      // message.retried: the message's failed attempts, this one included
  int failures = 0;   // session.backoff, session.start_failing: bad runs of the session in a row
  int sessions = 0;   // sweep.completed: the sessions it checked
  Duration delay{0};  // message.retried, session.backoff: the wait before the next attempt or start
  // container.killed: how far past its deadline the kill came; container.started (reason
  // "scheduled"): how long after its scheduled work came due
  Duration late_by{0};
  std::string stream;   // container.output: "stdout" or "stderr"
  std::string line;     // container.output: the line, escaped as in its log file
  std::string detail;   // a sentence for people: why, with the numbers
  // How long what the event reports took: sweep.completed, from the sweep's start until the last
  // of its checks returned; container.cleaned_up, from the container's exit being observed until
  // its cleanup committed.
  Duration duration{0};
  // container.exited and session.start_failing: the container's last stderr lines (at most 20
  // and about 4 KiB), each escaped as in its log file (policy/output_lines.hpp: no control
  // byte, valid UTF-8), joined by '\n'; "" when it wrote nothing to stderr.
  std::string stderr_tail;
};

}  // namespace hostsweep::supervisor
