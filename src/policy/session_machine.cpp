// GCC 12 at -O2 warns that the std::string inside an action::Emit "may be used uninitialized"
// when another alternative of the Action variant is pushed: a known false positive of its
// variant analysis (GCC bug 105562 and its kin). This file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "policy/session_machine.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace hostsweep::policy {

const char* to_string(Stage stage) noexcept {
  switch (stage) {
    case Stage::idle: return "idle";
    case Stage::running: return "running";
    case Stage::stopping: return "stopping";
    case Stage::ending: return "ending";
    case Stage::cleaning_up: return "cleaning_up";
    case Stage::backing_off: return "backing_off";
    case Stage::held_elsewhere: return "held_elsewhere";
    case Stage::retired: return "retired";
  }
  return "unknown";
}

const char* to_string(Timer timer) noexcept {
  switch (timer) {
    case Timer::due: return "due";
    case Timer::liveness: return "liveness";
    case Timer::kill_grace: return "kill_grace";
    case Timer::backoff: return "backoff";
    case Timer::retry: return "retry";
  }
  return "unknown";
}

bool stop_waits_for(const SessionState& s) noexcept {
  switch (s.stage) {
    case Stage::running:
    case Stage::stopping:
    case Stage::ending:
    case Stage::cleaning_up: return true;
    default: return s.check_in_flight;
  }
}

namespace {

bool has_container(Stage stage) {
  return stage == Stage::running || stage == Stage::stopping || stage == Stage::ending;
}

// One transition in progress: the state it changes and the actions it collects.
class Transition {
 public:
  Transition(SessionState& s, std::vector<Action>& out, const MachineFacts& facts, Now now)
      : s_(s), out_(out), policy_(facts.policy), stopping_(facts.stopping), now_(now) {}

  void on(const event::Triggered&) {
    if (s_.stage == Stage::held_elsewhere) {
      cancel(Timer::retry);
      s_.stage = Stage::idle;
    }
    check();
  }

  void on(const event::CheckDone& r) {
    s_.check_in_flight = false;
    if (!r.error && r.problem && r.problem_may_pass) {
      // A hot journal beside a running container: nearly always the container died mid-commit,
      // and the cleanup after its exit, a moment later, rolls the journal back. Said only when
      // a reading kProblemConfirmation after the first still finds it with the container
      // running (one that lives on with it), so that no such crash pages an operator: several
      // checks may meet the journal in the instant between the writer's death and the
      // container's, and one that returns after the exit was seen is the cleanup's business.
      confirm_problem(*r.problem, r.at);
    } else {
      s_.unconfirmed_problem.clear();
      report_error(r.error ? *r.error : r.problem.value_or(""));
    }
    if (r.settled_work) worked();
    s_.next_due = r.next_due;
    if (r.error) {
      retry_failed_check();
    } else {
      s_.check_failures = 0;
    }

    if (s_.stage == Stage::cleaning_up) {
      // Only the check that ran the cleanup ends it: one dispatched before the exit did not.
      if (r.cleanup && !r.error) cleanup_done();
    } else if (s_.stage == Stage::running) {
      judge(r);
    } else if (s_.stage == Stage::idle && !r.error) {
      if (r.start_ready && !stopping_ && !s_.removed && !s_.paused) {
        out_.push_back(action::Spawn{});
      } else if (r.orphan) {
        out_.push_back(action::Adopt{});
      } else if (r.held_elsewhere) {
        held_elsewhere(r.holder);
      } else {
        s_.reported_holder.reset();
      }
    }

    if (s_.next_due && !stopping_ && !s_.paused && s_.stage != Stage::retired) arm(Timer::due, *s_.next_due - now_.wall);
    if (s_.check_again) check();
    else if (s_.removed && s_.stage == Stage::idle && !s_.check_in_flight) forget();
  }

  // A heartbeat alone moves the liveness deadline: no pass over the files. While none of our
  // containers runs, a heartbeat means nothing (a stale one is removed before a start).
  void on(const event::HeartbeatTouched& e) {
    if (s_.stage != Stage::running) return;
    s_.life.observe_heartbeat(e.mtime, e.at);
    judge_life();
  }

  void on(const event::Started&) {
    s_.stage = Stage::running;
    s_.started = now_.steady;
    s_.life = LifeObserver(now_.steady, now_.wall);
    s_.did_work = false;
    s_.adopted = false;
    check();  // arms the liveness deadline
  }

  void on(const event::StartFailed& e) {
    s_.last_failure = e.why;
    back_off({.started = false});
  }

  void on(const event::Adopted& e) {
    s_.stage = Stage::running;
    s_.adopted = true;
    s_.started = now_.steady;
    s_.life = LifeObserver(now_.steady, now_.wall);
    stop_container(Notice::container_killed, "orphan", e.detail);
  }

  void on(const event::AdoptRefused& e) {
    emit(Notice::session_error, "a container of this session may still run but cannot be verified (" + e.why +
                                    "): it is not signalled and the session is left alone");
    if (!stopping_) arm(Timer::retry, policy_.unverified_retry);
  }

  void on(const event::Exited& e) {
    if (!has_container(s_.stage)) return;
    if (!e.clean || !s_.did_work) s_.last_failure = e.status;
    // The rest of the container is killed as its first process is reaped; what is left to do
    // is to wait for nothing of it to be left.
    s_.stage = Stage::ending;
    s_.exited = now_.steady;
    cancel(Timer::liveness);
    cancel(Timer::kill_grace);
  }

  void on(const event::Ended&) {
    cancel(Timer::liveness);
    cancel(Timer::kill_grace);
    s_.stage = Stage::cleaning_up;
    check();  // the cleanup, under the lock still held (or, in flight, the one after it)
  }

  void on(const event::KillGraceOver&) {
    if (s_.stage == Stage::stopping || s_.stage == Stage::ending) out_.push_back(action::Signal{.kill = true});
  }

  // An operator's pause: the container is stopped as the supervisor's own stop stops it (its
  // interrupted message keeps its tries), and nothing starts until Resumed; checks still sync
  // the container's acks. A container being stopped already (stuck, idle) ends as it would.
  void on(const event::Paused&) {
    if (s_.paused) return;
    s_.paused = true;
    emit(Notice::session_paused);
    cancel(Timer::due);
    cancel(Timer::backoff);
    switch (s_.stage) {
      case Stage::running:
        s_.interrupted = true;
        stop_container(Notice::container_stopped, "paused", "the session was paused");
        break;
      case Stage::backing_off:
        s_.stage = Stage::idle;
        s_.backoff_until.reset();
        break;
      default: break;
    }
  }

  void on(const event::Resumed&) {
    if (!s_.paused) return;
    s_.paused = false;
    emit(Notice::session_resumed);
    if (s_.stage == Stage::idle) check();  // due work starts now (one being stopped: after its cleanup)
  }

  void on(const event::BackoffOver&) {
    if (s_.stage != Stage::backing_off) return;
    s_.stage = Stage::idle;
    s_.backoff_until.reset();
    check();
  }

  void on(const event::StopRequested&) {
    cancel(Timer::due);
    cancel(Timer::backoff);
    cancel(Timer::retry);
    switch (s_.stage) {
      case Stage::running:
        s_.interrupted = true;
        stop_container(Notice::container_killed, "shutdown", "");
        break;
      case Stage::stopping:
      case Stage::ending: s_.interrupted = true; break;
      case Stage::cleaning_up: check(); break;  // a cleanup waiting for its retry is tried now
      case Stage::backing_off:
      case Stage::held_elsewhere:
        s_.stage = Stage::idle;
        s_.backoff_until.reset();
        break;
      case Stage::idle:
      case Stage::retired: break;
    }
  }

  void on(const event::ForceStop&) {
    cancel(Timer::kill_grace);
    if (has_container(s_.stage)) out_.push_back(action::Signal{.kill = true});
  }

  void on(const event::Removed&) {
    if (s_.removed) return;
    s_.removed = true;
    emit(Notice::session_removed);
    if (s_.stage == Stage::backing_off || s_.stage == Stage::held_elsewhere) {
      cancel(Timer::backoff);
      cancel(Timer::retry);
      s_.stage = Stage::idle;
      s_.backoff_until.reset();
    }
    if (s_.stage == Stage::idle && !s_.check_in_flight) forget();
  }

 private:
  void check() {
    if (s_.stage == Stage::retired) return;
    if (stopping_ && s_.stage != Stage::cleaning_up) return;  // while stopping only a cleanup needs its check
    if (s_.check_in_flight) {
      s_.check_again = true;  // coalesced: a burst of triggers becomes one more check
      return;
    }
    s_.check_in_flight = true;
    s_.check_again = false;
    out_.push_back(action::RunCheck{.may_start = s_.stage == Stage::idle && !s_.removed && !s_.paused && !stopping_,
                                    .cleanup = s_.stage == Stage::cleaning_up,
                                    .retry_orphans = !s_.interrupted});
  }

  // Liveness, from what was observed: also when the files could not be read this time
  // (FAILURE-MODES.md 16: a broken file never spares a silent container).
  void judge(const event::CheckDone& r) {
    if (r.liveness) s_.life.observe(policy_.stuck, *r.liveness, r.outbound_read, r.at);
    if (!r.error) s_.work_due = r.work_due;  // a failed check knows nothing new
    judge_life();
  }

  void judge_life() {
    const auto signs = s_.life.signs(std::max(now_.steady, s_.started));
    const auto decision = judge_liveness(policy_.stuck, signs);
    const bool idle = !s_.work_due && signs.claims.empty();
    const Duration silence = std::min(signs.since_start, signs.since_life.value_or(signs.since_start));
    if (idle && silence >= policy_.idle_timeout) {
      stop_container(Notice::container_stopped, "idle",
                     fmt::format("no claim, nothing due and no sign of life for {} (idle-timeout {})",
                                 format_duration(silence), format_duration(policy_.idle_timeout)));
    } else if (decision.verdict != StuckVerdict::healthy) {
      // How far past its deadline the kill comes: the measure of "at its deadline".
      stop_container(Notice::container_killed, to_string(decision.verdict), decision.reason,
                     decision.silence - decision.window);
    } else {
      // The verdict flips one tick past the window (silence must exceed it), not at it.
      Duration left = decision.remaining + Duration{1};
      if (idle) left = std::min(left, policy_.idle_timeout - silence);
      arm(Timer::liveness, left);
    }
  }

  void stop_container(Notice notice, std::string reason, std::string detail, Duration late = Duration{0}) {
    if (s_.stage != Stage::running) return;
    s_.stage = Stage::stopping;
    cancel(Timer::liveness);
    out_.push_back(action::Emit{.notice = notice, .reason = std::move(reason), .detail = std::move(detail), .late_by = late});
    out_.push_back(action::Signal{.kill = false});
    arm(Timer::kill_grace, policy_.kill_grace);
  }

  void cleanup_done() {
    s_.stage = Stage::idle;
    // What metrics call exit_to_cleanup: the crashed container's messages are retried by now.
    out_.push_back(action::Emit{.notice = Notice::cleaned_up,
                                .duration = std::chrono::duration_cast<Duration>(now_.steady - s_.exited)});
    if (std::exchange(s_.interrupted, false)) {
      if (stopping_) return;  // the stop is what waited for it
      if (s_.removed) return forget();
      return check();  // no bad run; it syncs, and starts nothing while paused
    }
    if (s_.removed) return forget();
    if (!std::exchange(s_.adopted, false)) {
      auto uptime = std::chrono::duration_cast<Duration>(now_.steady - s_.started);
      if (back_off({.started = true, .did_work = s_.did_work, .uptime = uptime})) return;
    }
    check();  // work may be due for the next container
  }

  // The container settled a message: this start worked, whatever comes next.
  void worked() {
    s_.did_work = true;
    if (s_.stage != Stage::running || !std::exchange(s_.start_failing, false)) return;
    s_.start_failures = 0;
    emit(Notice::recovered, "", "a container started and did its work again");
  }

  // Applies the start backoff after a run; true when the session now waits.
  bool back_off(const ContainerRun& run) {
    auto next = next_start_backoff(policy_.start_backoff, s_.start_failures, run);
    s_.start_failures = next.failures;
    if (next.failures == 0 && std::exchange(s_.start_failing, false)) {
      emit(Notice::recovered, "", "a container started and did its work again");
    }
    if (policy_.start_failure_alert > 0 && next.failures >= policy_.start_failure_alert && !s_.start_failing) {
      s_.start_failing = true;
      out_.push_back(action::Emit{
          .notice = Notice::start_failing,
          .reason = s_.last_failure,
          .detail = fmt::format("{} consecutive containers {}; the last: {}", next.failures,
                                run.started ? "ended without doing any work" : "could not start", s_.last_failure),
          .failures = next.failures});
    }
    if (next.delay <= Duration::zero()) {
      s_.backoff_until.reset();
      return false;
    }
    s_.stage = Stage::backing_off;
    s_.backoff_until = now_.wall + next.delay;
    out_.push_back(action::Emit{
        .notice = Notice::session_backoff,
        .reason = run.started ? "the container ended without doing any work" : "the container could not start",
        .failures = next.failures,
        .delay = next.delay});
    if (!stopping_) arm(Timer::backoff, next.delay);
    return true;
  }

  // A failed check is looked at again, later each time: while stopping too if it was the
  // cleanup, which the stop waits for.
  void retry_failed_check() {
    ++s_.check_failures;
    if (stopping_ && s_.stage != Stage::cleaning_up) return;
    auto delay = policy_.start_backoff.base * (std::int64_t{1} << std::min(s_.check_failures - 1, 20));
    arm(Timer::retry, std::min<Duration>(delay, policy_.start_backoff.cap));
  }

  void held_elsewhere(const std::string& holder) {
    s_.stage = Stage::held_elsewhere;
    if (s_.reported_holder != holder) {
      s_.reported_holder = holder;
      emit(Notice::locked_elsewhere, "", holder);
    }
    if (!stopping_) arm(Timer::retry, policy_.held_elsewhere_retry);
  }

  void confirm_problem(const std::string& problem, SteadyTime read_at) {
    if (s_.stage != Stage::running) return;  // the container has ended or is being stopped
    if (problem != s_.unconfirmed_problem) {
      s_.unconfirmed_problem = problem;
      s_.unconfirmed_since = read_at;
      arm(Timer::retry, kProblemConfirmation);  // look again then, whatever the files do
      return;
    }
    auto seen_for = read_at - s_.unconfirmed_since;
    if (seen_for >= kProblemConfirmation) {
      report_error(problem);
    } else {
      arm(Timer::retry, std::chrono::duration_cast<Duration>(kProblemConfirmation - seen_for));
    }
  }

  void report_error(const std::string& error) {
    if (!error.empty() && error != s_.last_error) emit(Notice::session_error, error);
    s_.last_error = error;
  }

  void forget() {
    s_.stage = Stage::retired;
    for (auto t : {Timer::due, Timer::liveness, Timer::kill_grace, Timer::backoff, Timer::retry}) cancel(t);
    out_.push_back(action::Forget{});
  }

  void arm(Timer timer, Duration after) {
    out_.push_back(action::Arm{timer, std::clamp(after, Duration::zero(), kMaxTimerWait)});
  }
  void cancel(Timer timer) { out_.push_back(action::Cancel{timer}); }
  void emit(Notice notice, std::string reason = {}, std::string detail = {}) {
    out_.push_back(action::Emit{.notice = notice, .reason = std::move(reason), .detail = std::move(detail)});
  }

  SessionState& s_;
  std::vector<Action>& out_;
  const MachinePolicy& policy_;
  const bool stopping_;
  const Now now_;
};

}  // namespace

Step transition(SessionState state, const Event& event, const MachineFacts& facts, Now now) {
  Step step{std::move(state), {}};
  Transition t(step.state, step.actions, facts, now);
  std::visit([&](const auto& e) { t.on(e); }, event);
  return step;
}

}  // namespace hostsweep::policy
