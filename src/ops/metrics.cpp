#include "ops/metrics.hpp"

#include <chrono>

#include <fmt/format.h>

namespace hostsweep::ops {
namespace {

using supervisor::EventKind;
using supervisor::Phase;

// Bounds for latencies the supervisor should keep in milliseconds, with room for a bad day.
std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

// A sweep over 10,000 idle sessions takes about half a second; a first one several seconds.
std::vector<double> sweep_buckets() { return {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}; }

// Every label value known in advance, so each series exists (at 0) from the first scrape and
// a rate() over a restart sees it; anything unexpected is "other", never a new series.
const std::vector<std::string> kExitOutcomes = {"success", "failure", "signal"};
const std::vector<std::string> kKillReasons = {"ceiling", "claim-stuck", "shutdown", "orphan", "other"};
const std::vector<std::string> kMessageOutcomes = {"completed", "failed", "retried"};

std::map<std::string, std::uint64_t> zeroed(const std::vector<std::string>& keys) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& k : keys) m[k] = 0;
  return m;
}

void labeled(ExpositionWriter& w, const char* label, const std::map<std::string, std::uint64_t>& values) {
  for (const auto& [value, n] : values) w.sample({{label, value}}, static_cast<double>(n));
}

bool container_runs(const supervisor::SessionView& v) {
  return v.phase == Phase::running || v.phase == Phase::stopping;
}

}  // namespace

SupervisorSnapshot snapshot_of(const supervisor::Supervisor& s) {
  return {s.sessions(), s.pending_work(), s.counters()};
}

Metrics::Metrics()
    : exits_(zeroed(kExitOutcomes)),
      kills_(zeroed(kKillReasons)),
      messages_(zeroed(kMessageOutcomes)),
      deadline_to_kill_(latency_buckets()),
      exit_to_cleanup_(latency_buckets()),
      due_to_start_(latency_buckets()),
      sweep_duration_(sweep_buckets()) {}

void Metrics::observe(const supervisor::Event& e) {
  switch (e.kind) {
    case EventKind::sweep_completed:
      ++sweeps_;
      sweep_duration_.observe(std::chrono::duration<double>(e.duration).count());
      break;
    case EventKind::container_started:
      ++container_starts_;
      if (e.reason == "scheduled") due_to_start_.observe(std::chrono::duration<double>(e.late_by).count());
      break;
    case EventKind::container_start_failed: ++container_start_failures_; break;
    case EventKind::container_exited: {
      const char* outcome = !e.exit ? "failure" : e.exit->signal ? "signal" : e.exit->exit_code == 0 ? "success" : "failure";
      ++exits_[outcome];
      break;
    }
    case EventKind::container_killed: {
      auto it = kills_.find(e.reason);
      ++(it == kills_.end() ? kills_["other"] : it->second);
      // A liveness kill carries how far past its deadline it came (late_by).
      if (e.reason == "ceiling" || e.reason == "claim-stuck") {
        deadline_to_kill_.observe(std::chrono::duration<double>(e.late_by).count());
      }
      break;
    }
    case EventKind::container_cleaned_up:
      exit_to_cleanup_.observe(std::chrono::duration<double>(e.duration).count());
      break;
    case EventKind::message_completed: ++messages_["completed"]; break;
    case EventKind::message_failed: ++messages_["failed"]; break;
    case EventKind::message_retried: ++messages_["retried"]; break;
    case EventKind::session_error: ++session_errors_; break;
    case EventKind::session_backoff: ++session_backoffs_; break;
    case EventKind::container_stopped:
      if (e.reason == "idle") ++idle_stops_;  // not a pause's stop: an operator's doing
      break;
    case EventKind::session_start_failing: ++start_failing_; break;
    case EventKind::watch_overflow: ++watch_overflows_; break;
    case EventKind::watch_unavailable: ++watch_unavailable_; break;
    default: break;
  }
}

std::string Metrics::render(const SupervisorSnapshot& now) const {
  std::map<std::string, std::uint64_t> by_phase;
  for (Phase p : {Phase::idle, Phase::running, Phase::stopping, Phase::backing_off, Phase::paused}) {
    by_phase[supervisor::to_string(p)] = 0;
  }
  std::uint64_t running = 0, watched = 0, with_errors = 0;
  for (const auto& v : now.sessions) {
    ++by_phase[supervisor::to_string(v.phase)];
    if (container_runs(v)) ++running;
    if (v.watched) ++watched;
    if (!v.last_error.empty()) ++with_errors;
  }
  auto n = [](std::uint64_t v) { return static_cast<double>(v); };

  ExpositionWriter w;
  w.family("hostsweep_sessions", MetricType::gauge, "Supervised sessions by phase.");
  labeled(w, "state", by_phase);
  w.family("hostsweep_containers_running", MetricType::gauge, "Containers running now (including those being stopped).")
      .sample(n(running));
  w.family("hostsweep_watches", MetricType::gauge, "Sessions watched through inotify (the others are polled at each sweep).")
      .sample(n(watched));
  w.family("hostsweep_db_queue_depth", MetricType::gauge, "Database jobs queued or running.")
      .sample(n(now.db_queue_depth));
  w.family("hostsweep_sessions_with_errors", MetricType::gauge, "Sessions whose last check reported an error.")
      .sample(n(with_errors));
  w.family("hostsweep_sweeps_total", MetricType::counter, "Sweeps completed.").sample(n(sweeps_));
  w.family("hostsweep_session_checks_total", MetricType::counter, "Session checks completed.")
      .sample(n(now.counters.checks));
  w.family("hostsweep_registry_reloads_total", MetricType::counter, "Registry reads completed.")
      .sample(n(now.counters.registry_reloads));
  w.family("hostsweep_heartbeats_total", MetricType::counter,
           "Heartbeats of running containers looked at (each an lstat, not a check).")
      .sample(n(now.counters.heartbeats));
  w.family("hostsweep_container_starts_total", MetricType::counter, "Containers started.").sample(n(container_starts_));
  w.family("hostsweep_container_start_failures_total", MetricType::counter, "Containers that could not be started.")
      .sample(n(container_start_failures_));
  w.family("hostsweep_container_exits_total", MetricType::counter,
           "Containers that ended, by outcome: success (exit 0), failure (another exit code), signal.");
  labeled(w, "outcome", exits_);
  w.family("hostsweep_container_kills_total", MetricType::counter,
           "Containers the supervisor stopped, by reason: ceiling, claim-stuck, shutdown, orphan.");
  labeled(w, "reason", kills_);
  w.family("hostsweep_container_idle_stops_total", MetricType::counter,
           "Idle containers stopped (no claim, nothing due, silent past idle-timeout): not failures.")
      .sample(n(idle_stops_));
  w.family("hostsweep_session_start_failing_total", MetricType::counter,
           "Times a session's containers failed start-failure-alert times in a row (session.start_failing).")
      .sample(n(start_failing_));
  w.family("hostsweep_messages_total", MetricType::counter, "Messages settled or retried, by outcome.");
  labeled(w, "outcome", messages_);
  w.family("hostsweep_session_errors_total", MetricType::counter, "Session files that could not be read or written, and other session errors.")
      .sample(n(session_errors_));
  w.family("hostsweep_session_backoffs_total", MetricType::counter, "Start backoffs after a container did no work.")
      .sample(n(session_backoffs_));
  w.family("hostsweep_watch_overflows_total", MetricType::counter, "inotify queue overflows (every session re-checked).")
      .sample(n(watch_overflows_));
  w.family("hostsweep_watch_unavailable_total", MetricType::counter, "Watches that could not be set up (polled instead).")
      .sample(n(watch_unavailable_));
  w.family("hostsweep_sweep_duration_seconds", MetricType::histogram,
           "From a sweep's start until the last of its session checks returned.")
      .histogram({}, sweep_duration_);
  w.family("hostsweep_event_latency_seconds", MetricType::histogram,
           "From an event to the supervisor's reaction: deadline_to_kill, a stuck container's kill past its "
           "deadline; exit_to_cleanup, a container's exit to its cleanup committed (its messages retried); "
           "due_to_start, scheduled work coming due to its container's start.")
      .histogram({{"path", "deadline_to_kill"}}, deadline_to_kill_)
      .histogram({{"path", "exit_to_cleanup"}}, exit_to_cleanup_)
      .histogram({{"path", "due_to_start"}}, due_to_start_);
  return w.str();
}

std::string Metrics::status_line(const SupervisorSnapshot& now) const {
  std::size_t running = 0, backing_off = 0, paused = 0;
  for (const auto& v : now.sessions) {
    if (container_runs(v)) ++running;
    if (v.phase == Phase::backing_off) ++backing_off;
    if (v.paused) ++paused;
  }
  auto plural = [](std::size_t k, const char* one, const char* many) { return fmt::format("{} {}", k, k == 1 ? one : many); };
  return fmt::format("{}, {}, {} backing off, {}{}", plural(now.sessions.size(), "session", "sessions"),
                     plural(running, "container running", "containers running"), backing_off,
                     paused ? fmt::format("{} paused, ", paused) : std::string(),
                     plural(session_errors_, "error", "errors"));
}

}  // namespace hostsweep::ops
