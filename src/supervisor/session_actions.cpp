// Feeding a session's events to its machine (policy::transition) and performing the actions
// it returns. Nothing here decides: it maps actions onto timers, containers, checks and events.
#include <signal.h>

#include "supervisor_impl.hpp"

namespace hostsweep::supervisor {

Session* Supervisor::Impl::find(const std::string& id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

// Events that actions cause (a spawn's Started, an adoption's outcome) are queued and handled
// after the current transition's actions, in order: a transition never runs inside another.
void Supervisor::Impl::feed(Session& s, policy::Event event) {
  s.inbox.push_back(std::move(event));
  if (s.feeding) return;
  s.feeding = true;
  for (std::size_t i = 0; i < s.inbox.size(); ++i) {
    auto next = std::move(s.inbox[i]);  // by value: handling it may append to the inbox
    auto step = policy::transition(std::move(s.state), next, facts(), clock_->now());
    s.state = std::move(step.state);
    for (const auto& action : step.actions) perform(s, action);
    // A lock a check handed over that no Spawn or Adopt took is released.
    s.handed_lock.reset();
    s.handed_orphan.reset();
  }
  s.inbox.clear();
  s.inbox.shrink_to_fit();
  s.feeding = false;
  publish(s);
  if (s.forgotten) {
    const std::string id = s.id;  // a copy: erasing the session frees s.id
    forget_session(id);           // last: `s` is gone after this
  }
}

void Supervisor::Impl::perform(Session& s, const policy::Action& action) {
  namespace act = policy::action;
  if (auto* run = std::get_if<act::RunCheck>(&action)) {
    run_check(s, *run);
  } else if (std::holds_alternative<act::Spawn>(action)) {
    if (s.handed_lock && !s.has_container()) start_container(s);
  } else if (std::holds_alternative<act::Adopt>(action)) {
    if (s.handed_lock && s.handed_orphan && !s.has_container()) {
      auto lock = std::move(*s.handed_lock);
      s.handed_lock.reset();
      adopt_orphan(s, std::move(lock), *s.handed_orphan);
    }
  } else if (auto* signal = std::get_if<act::Signal>(&action)) {
    if (signal->kill) signal_container(s, SIGKILL);
    else terminate_container(s);
  } else if (auto* arm = std::get_if<act::Arm>(&action)) {
    arm_timer(s, arm->timer, arm->after);
  } else if (auto* cancel = std::get_if<act::Cancel>(&action)) {
    if (auto& timer = s.timer(cancel->timer)) timer->cancel();
    s.deadline(cancel->timer).reset();
  } else if (auto* notice = std::get_if<act::Emit>(&action)) {
    emit_notice(s, *notice);
  } else if (std::holds_alternative<act::Forget>(action)) {
    s.forgotten = true;
  }
}

// Due times are wall-clock instants (re-read when the wall clock steps); the rest is steady.
void Supervisor::Impl::arm_timer(Session& s, policy::Timer timer, Duration after) {
  auto fire = [weak = weak_from_this(), id = s.id, timer] {
    if (auto self = weak.lock()) self->on_timer(id, timer);
  };
  auto& armed = s.timer(timer);
  if (!armed) armed = clock_->make_timer(home_);
  if (timer == policy::Timer::due) armed->arm_at_wall(clock_->wall_now() + after, std::move(fire));
  else armed->arm_after(after, std::move(fire));
  s.deadline(timer) = clock_->wall_now() + after;
}

void Supervisor::Impl::on_timer(const std::string& id, policy::Timer timer) {
  Session* s = find(id);
  if (!s) return;
  s->deadline(timer).reset();
  switch (timer) {
    case policy::Timer::kill_grace: return feed(*s, policy::event::KillGraceOver{});
    case policy::Timer::backoff: return feed(*s, policy::event::BackoffOver{});
    case policy::Timer::due:
    case policy::Timer::liveness:
    case policy::Timer::retry: return feed(*s, policy::event::Triggered{});
  }
}

void Supervisor::Impl::request_check(const std::string& id) {
  if (Session* s = find(id)) feed(*s, policy::event::Triggered{});
}

void Supervisor::Impl::forget_session(const std::string& id) {
  if (Session* s = find(id)) sweep_check_returned(*s);
  if (watcher_) watcher_->remove(id);
  sessions_.erase(id);
  {
    std::lock_guard lock(views_mutex_);
    views_.erase(id);
  }
  maybe_complete_sweep();
}

// sessions() may run on any thread, so what it returns is copied here as a session changes
// (after each transition, and where the few fields outside the machine change).
void Supervisor::Impl::publish(const Session& s) {
  SessionView view{.session_id = s.id,
                   .agent_group_id = s.agent_group_id,
                   .phase = phase_of(s.state),
                   .pid = s.child ? s.child->pid() : 0,
                   .start_failures = s.state.start_failures,
                   .backoff_until = s.state.backoff_until,
                   .next_due = s.state.next_due,
                   .watched = s.watched,
                   .last_error = s.state.last_error,
                   .paused = s.state.paused};
  if (s.child) view.container_started = s.started_at;
  for (std::size_t t = 0; t < s.deadlines.size(); ++t) {
    if (s.deadlines[t] && (!view.next_deadline || *s.deadlines[t] < *view.next_deadline)) {
      view.next_deadline = s.deadlines[t];
      view.next_deadline_kind = deadline_kind(static_cast<policy::Timer>(t));
    }
  }
  std::lock_guard lock(views_mutex_);
  views_.insert_or_assign(s.id, std::move(view));
}

// Queued, and delivered by one posted handler: a handler may then call back into the
// supervisor, or destroy it, without finding it in the middle of whatever emitted the event.
void Supervisor::Impl::emit(Event event) {
  if (!on_event_ || closed_) return;
  event.at = clock_->wall_now();
  pending_events_.push_back(std::move(event));
  if (pending_events_.size() > 1) return;  // a delivery is posted already
  asio::post(home_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->deliver_events();
  });
}

void Supervisor::Impl::deliver_events() {
  // The caller holds a reference: a handler that destroys the Supervisor leaves this alive
  // until the loop below has seen closed_.
  auto batch = std::move(pending_events_);
  pending_events_.clear();
  for (const auto& event : batch) {
    if (closed_) return;
    on_event_(event);
  }
}

void Supervisor::Impl::emit_for(const Session& s, EventKind kind, std::string reason) {
  emit({.kind = kind, .session_id = s.id, .pid = s.child ? s.child->pid() : 0, .reason = std::move(reason)});
}

void Supervisor::Impl::emit_notice(const Session& s, const policy::action::Emit& n) {
  int pid = s.child ? s.child->pid() : s.orphan ? static_cast<int>(s.orphan->container.pid) : 0;
  auto kind = event_kind(n.notice);
  emit({.kind = kind,
        .session_id = s.id,
        .pid = pid,
        .reason = n.reason,
        .failures = n.failures,
        .delay = n.delay,
        .late_by = n.late_by,
        .detail = n.detail,
        .duration = n.duration,
        .stderr_tail = kind == EventKind::session_start_failing ? s.stderr_tail : std::string()});
}

}  // namespace hostsweep::supervisor
