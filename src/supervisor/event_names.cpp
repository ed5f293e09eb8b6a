// The stable names of events (for logs and metrics) and how the machine's words map onto the
// public ones.
#include "supervisor_impl.hpp"

namespace hostsweep::supervisor {

const char* event_name(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::container_started: return "container.started";
    case EventKind::container_start_failed: return "container.start_failed";
    case EventKind::container_exited: return "container.exited";
    case EventKind::container_killed: return "container.killed";
    case EventKind::container_stopped: return "container.stopped";
    case EventKind::message_completed: return "message.completed";
    case EventKind::message_failed: return "message.failed";
    case EventKind::message_retried: return "message.retried";
    case EventKind::recurrence_scheduled: return "recurrence.scheduled";
    case EventKind::recurrence_invalid: return "recurrence.invalid";
    case EventKind::session_backoff: return "session.backoff";
    case EventKind::session_start_failing: return "session.start_failing";
    case EventKind::session_recovered: return "session.recovered";
    case EventKind::session_added: return "session.added";
    case EventKind::session_removed: return "session.removed";
    case EventKind::session_locked_elsewhere: return "session.locked_elsewhere";
    case EventKind::session_error: return "session.error";
    case EventKind::watch_unavailable: return "watch.unavailable";
    case EventKind::watch_overflow: return "watch.overflow";
    case EventKind::containment_reduced: return "containment.reduced";
    case EventKind::orphans_stopped: return "orphans.stopped";
    case EventKind::sweep_completed: return "sweep.completed";
    case EventKind::container_output: return "container.output";
    case EventKind::session_unknown: return "session.unknown";
    case EventKind::container_cleaned_up: return "container.cleaned_up";
    case EventKind::session_paused: return "session.paused";
    case EventKind::session_resumed: return "session.resumed";
  }
  return "unknown";
}

const char* to_string(ContainerLogMode mode) noexcept {
  switch (mode) {
    case ContainerLogMode::file: return "file";
    case ContainerLogMode::journal: return "journal";
    case ContainerLogMode::off: return "off";
  }
  return "unknown";
}

const char* to_string(Phase phase) noexcept {
  switch (phase) {
    case Phase::idle: return "idle";
    case Phase::running: return "running";
    case Phase::stopping: return "stopping";
    case Phase::backing_off: return "backing_off";
    case Phase::paused: return "paused";
  }
  return "unknown";
}

const char* to_string(DeadlineKind kind) noexcept {
  switch (kind) {
    case DeadlineKind::due: return "due";
    case DeadlineKind::liveness: return "liveness";
    case DeadlineKind::kill_grace: return "kill_grace";
    case DeadlineKind::backoff: return "backoff";
    case DeadlineKind::retry: return "retry";
  }
  return "unknown";
}

DeadlineKind deadline_kind(policy::Timer timer) noexcept {
  switch (timer) {
    case policy::Timer::due: return DeadlineKind::due;
    case policy::Timer::liveness: return DeadlineKind::liveness;
    case policy::Timer::kill_grace: return DeadlineKind::kill_grace;
    case policy::Timer::backoff: return DeadlineKind::backoff;
    case policy::Timer::retry: return DeadlineKind::retry;
  }
  return DeadlineKind::retry;
}

Phase phase_of(const policy::SessionState& state) noexcept {
  switch (state.stage) {
    case policy::Stage::running: return Phase::running;
    case policy::Stage::stopping:
    case policy::Stage::ending: return Phase::stopping;
    case policy::Stage::backing_off: return state.paused ? Phase::paused : Phase::backing_off;
    case policy::Stage::idle:
    case policy::Stage::held_elsewhere: return state.paused ? Phase::paused : Phase::idle;
    case policy::Stage::cleaning_up:
    case policy::Stage::retired: return Phase::idle;
  }
  return Phase::idle;
}

EventKind event_kind(policy::Notice notice) noexcept {
  switch (notice) {
    case policy::Notice::container_killed: return EventKind::container_killed;
    case policy::Notice::container_stopped: return EventKind::container_stopped;
    case policy::Notice::session_backoff: return EventKind::session_backoff;
    case policy::Notice::start_failing: return EventKind::session_start_failing;
    case policy::Notice::recovered: return EventKind::session_recovered;
    case policy::Notice::cleaned_up: return EventKind::container_cleaned_up;
    case policy::Notice::session_error: return EventKind::session_error;
    case policy::Notice::locked_elsewhere: return EventKind::session_locked_elsewhere;
    case policy::Notice::session_removed: return EventKind::session_removed;
    case policy::Notice::session_paused: return EventKind::session_paused;
    case policy::Notice::session_resumed: return EventKind::session_resumed;
  }
  return EventKind::session_error;
}

}  // namespace hostsweep::supervisor
