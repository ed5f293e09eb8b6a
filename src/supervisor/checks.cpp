// Checks: one pass over a session's files (sweep::run_pass), on the database pool, in order per
// session; its result goes back to the machine as a CheckDone, and what it changed is reported.
#include <fmt/format.h>

#include "supervisor_impl.hpp"

namespace hostsweep::supervisor {

void Supervisor::Impl::run_check(Session& s, const policy::action::RunCheck& run) {
  detail::CheckInput input;
  input.pass.files = s.files;
  input.pass.policy = options_.policy;
  // While any process of the container lives, the lock stays on our own fd, whatever a check
  // does (FAILURE-MODES.md 12); once it has ended, the cleanup check runs under it.
  if (s.has_container()) {
    input.pass.own_container_since = s.started_at;
  } else if (s.lock) {
    input.pass.held_lock = std::move(s.lock);
    s.lock.reset();
  }
  input.pass.may_start = run.may_start;
  input.pass.retry_orphans = run.retry_orphans;
  input.pass.memo = s.memo;
  input.cleanup = run.cleanup;
  on_pool(
      s.db,
      [input = std::move(input), clock = clock_]() mutable {
        input.pass.now = clock->wall_now();  // when the work runs, not when it was queued
        auto at = clock->steady_now();
        auto result = detail::run_check(std::move(input));
        result.at = at;
        return result;
      },
      [id = s.id](Impl& self, detail::CheckResult result) { self.on_check(id, std::move(result)); });
}

void Supervisor::Impl::on_check(const std::string& id, detail::CheckResult result) {
  ++counters_.checks;
  Session* found = find(id);
  if (!found) return;
  Session& s = *found;
  report(s, result);
  s.memo = result.pass.memo;
  sweep_check_returned(s);

  policy::event::CheckDone done;
  done.cleanup = result.cleanup;
  done.at = result.at;
  if (result.error) {
    done.error = result.error->what();
  } else {
    auto& pass = result.pass;
    done.problem = pass.file_error ? pass.file_error : pass.heartbeat_problem;
    done.problem_may_pass = pass.file_error && pass.file_error_may_pass;
    done.settled_work = !pass.settled.empty();
    done.work_due = !pass.summary.due_ids.empty();
    done.next_due = pass.summary.next_due;
    done.liveness = std::move(pass.liveness);
    done.outbound_read = !pass.outbound_unreadable;
    if (pass.start_lock) {
      done.start_ready = true;
      s.handed_lock = std::move(pass.start_lock);
      s.start_due_since = pass.summary.due_since;
    } else if (pass.orphan && pass.orphan_lock) {
      done.orphan = true;
      s.handed_lock = std::move(pass.orphan_lock);
      s.handed_orphan = std::move(pass.orphan);
    } else if (pass.held_elsewhere) {
      done.held_elsewhere = true;
      done.holder = pass.holder ? fmt::format("container pid {} of supervisor pid {}", pass.holder->container.pid,
                                              pass.holder->supervisor.pid)
                                : "held by a process that runs no container (a maintenance pass?)";
    }
  }
  feed(s, std::move(done));
  maybe_complete_sweep();  // after the machine has acted on it: `s` may be gone now
}

// Events for the messages a check settled, retried, failed or scheduled.
void Supervisor::Impl::report(Session& s, const detail::CheckResult& result) {
  for (const auto& settled : result.pass.settled) {
    bool failed = settled.status == policy::MessageStatus::failed;
    emit({.kind = failed ? EventKind::message_failed : EventKind::message_completed,
          .session_id = s.id,
          .message_id = settled.message_id,
          .reason = failed ? "reported by the container" : ""});
  }
  for (const auto& f : result.pass.fan_outs) {
    if (f.next) {
      emit({.kind = EventKind::recurrence_scheduled,
            .session_id = s.id,
            .message_id = f.message_id,
            .detail = "next run at " + policy::format_iso8601(*f.next)});
    } else {
      emit({.kind = EventKind::recurrence_invalid,
            .session_id = s.id,
            .message_id = f.message_id,
            .reason = f.error,
            .detail = "the series ends"});
    }
  }
  for (const auto& r : result.pass.retries) {
    if (r.decision.action == policy::RetryAction::retry) {
      emit({.kind = EventKind::message_retried,
            .session_id = s.id,
            .message_id = r.message_id,
            .reason = r.decision.reason,
            .tries = r.decision.new_tries,
            .delay = r.decision.backoff});
    } else if (r.decision.action == policy::RetryAction::fail) {
      emit({.kind = EventKind::message_failed, .session_id = s.id, .message_id = r.message_id, .reason = r.decision.reason});
    }
  }
}

}  // namespace hostsweep::supervisor
