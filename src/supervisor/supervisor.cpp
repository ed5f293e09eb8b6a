// The supervisor's lifetime: construction, start, the bounded stop (FAILURE-MODES.md 15), and
// the public surface. See supervisor_impl.hpp for where the rest lives.
#include "hostsweep/supervisor/supervisor.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include "hostsweep/policy/time_zone.hpp"
#include "supervisor_impl.hpp"

namespace hostsweep::supervisor {
namespace {

// The pool's threads run at a lower priority than the caller's: on a machine with few cores a
// sweep's database work would otherwise hold the caller's loop off the CPU for whole scheduler
// slices (tens of ms at 10,000 sessions on 2 cores). The scheduler still gives them a share
// (about a tenth of a core against each busy process of normal priority), so a check on the
// path of a kill or a start is slowed under load, never starved.
constexpr int kPoolNiceness = 10;

// How long the start-up stop of docker's orphans may take beyond their kill grace (the engine
// listing them, its `stop` returning) before the daemon gives up on it and sweeps anyway.
constexpr Duration kOrphanStopSlack = std::chrono::seconds{30};

// A second stop request SIGKILLs every container, then waits this long for them to end and
// their cleanups to commit before it abandons what is left.
constexpr Duration kForcedStopGrace = std::chrono::seconds{1};

// The zone is resolved once, here: an unknown name is a configuration error at construction.
SupervisorOptions resolve_zone(SupervisorOptions options) {
  options.policy.zone = &policy::find_time_zone(options.timezone);
  return options;
}

policy::MachinePolicy machine_policy(const SupervisorOptions& o) {
  return {.stuck = o.policy.stuck,
          .start_backoff = o.start_backoff,
          .kill_grace = o.kill_grace,
          .idle_timeout = o.idle_timeout.value_or(o.policy.stuck.ceiling),
          .start_failure_alert = o.start_failure_alert,
          .unverified_retry = o.sweep_interval,
          .held_elsewhere_retry = std::min<Duration>(o.sweep_interval, std::chrono::seconds{1})};
}

}  // namespace

// Once per pool thread; best effort.
void lower_this_threads_priority() {
  thread_local bool lowered = false;
  if (lowered) return;
  lowered = true;
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kPoolNiceness);
}

Session::Session(Strand db_strand, store::Session s)
    : id(s.record.id), agent_group_id(s.record.agent_group_id), files(std::move(s.files)), db(std::move(db_strand)) {}

Supervisor::Impl::Impl(asio::any_io_executor executor, store::DataDir data, SupervisorOptions options,
                       EventHandler on_event)
    : home_(std::move(executor)),
      data_(std::move(data)),
      options_(resolve_zone(std::move(options))),
      clock_(options_.clock ? options_.clock : system_clock()),
      machine_policy_(machine_policy(options_)),
      on_event_(std::move(on_event)),
      pool_(std::max<std::size_t>(1, options_.database_threads)),
      registry_strand_(asio::make_strand(pool_.get_executor())),
      sweep_timer_(clock_->make_timer(home_)),
      stop_deadline_(clock_->make_timer(home_)),
      orphan_stop_timer_(clock_->make_timer(home_)) {}

// Pool jobs hold no reference to this object, so joining here cannot deadlock.
Supervisor::Impl::~Impl() { pool_.join(); }

void Supervisor::Impl::start() {
  if (started_) return;
  instance_.emplace(detail::claim_data_dir(data_));  // throws when another supervisor has it
  started_ = true;
  open_cgroups();
  if (options_.watch_files) start_watching();
  if (!stop_runtime_orphans()) sweep();
}

// docker's and podman's containers live outside the supervisor's process tree and cgroup, so
// those a supervisor that died left running are found by this install's label and stopped
// before the first sweep: a new `docker run --name` would collide with the old container, and
// the old one would go on working beside the new one. Returns false when there is nothing to
// wait for; otherwise the first sweep starts when the stop has finished (or given up).
bool Supervisor::Impl::stop_runtime_orphans() {
  auto argv = runtime::orphan_stop_command(options_.runtime, instance_->install_id, options_.kill_grace);
  if (!argv) return false;
  std::error_code ec;
  orphan_stopper_ = runtime::ChildProcess::start(home_, *argv, {}, ec);
  if (!orphan_stopper_) {
    emit({.kind = EventKind::session_error,
          .reason = fmt::format("cannot stop the containers a previous supervisor left: {}", ec.message())});
    return false;
  }
  // The engine may hang; the daemon must not wait for it forever.
  orphan_stop_timer_->arm_after(options_.kill_grace + kOrphanStopSlack, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || !self->orphan_stopper_) return;
    self->orphan_stop_timed_out_ = true;
    self->orphan_stopper_->signal_group(SIGKILL);
  });
  orphan_stopper_->async_wait([weak = weak_from_this()](std::error_code wait_ec, runtime::ExitStatus status) {
    if (wait_ec) return;
    if (auto self = weak.lock()) self->on_runtime_orphans_stopped(status);
  });
  return true;
}

void Supervisor::Impl::on_runtime_orphans_stopped(runtime::ExitStatus status) {
  orphan_stop_timer_->cancel();
  orphan_stopper_->signal_group(SIGKILL);  // whatever the script left behind
  orphan_stopper_->reap();
  orphan_stopper_.reset();
  std::string what = fmt::format("{} containers labelled hostsweep.install={}", runtime::to_string(options_.runtime.kind),
                                 instance_->install_id);
  if (stopping_) {
    // Killed by our own stop: the next start tries again.
  } else if (status.clean()) {
    emit({.kind = EventKind::orphans_stopped, .detail = what + " left by an earlier supervisor: none runs now"});
  } else {
    emit({.kind = EventKind::session_error,
          .reason = fmt::format("stopping the {} failed ({}){}: a new container may collide with an old one", what,
                                status.describe(), orphan_stop_timed_out_ ? ", killed after its time ran out" : "")});
  }
  if (stopping_) maybe_finish_stop();
  else sweep();
}

// --- a bounded stop (FAILURE-MODES.md 15) -----------------------------------------------------

void Supervisor::Impl::async_stop(std::function<void()> done) {
  if (done) stop_handlers_.push_back(std::move(done));
  if (stopping_) {
    force_stop();
    maybe_finish_stop();
    return;
  }
  stopping_ = true;
  arm_stop_deadline(options_.kill_grace + options_.stop_timeout);
  sweep_timer_->cancel();
  if (orphan_stopper_) orphan_stopper_->signal_group(SIGKILL);  // the next start tries again
  if (watcher_) watcher_->close();
  std::vector<std::string> ids;
  for (const auto& [id, s] : sessions_) ids.push_back(id);
  for (const auto& id : ids) {
    if (Session* s = find(id)) feed(*s, policy::event::StopRequested{});
  }
  maybe_finish_stop();
}

void Supervisor::Impl::arm_stop_deadline(Duration after) {
  stop_deadline_->arm_after(after, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->stop_deadline_passed_ = true;
    self->maybe_finish_stop();
  });
}

// A second stop request: every container is SIGKILLed now, and what has not ended or been
// cleaned up shortly after is abandoned.
void Supervisor::Impl::force_stop() {
  if (forced_) return;
  forced_ = true;
  std::vector<std::string> ids;
  for (const auto& [id, s] : sessions_) ids.push_back(id);
  for (const auto& id : ids) {
    if (Session* s = find(id)) feed(*s, policy::event::ForceStop{});
  }
  arm_stop_deadline(kForcedStopGrace);
}

// What a session still has to do before the stop is complete, or "" when nothing.
std::string Supervisor::Impl::unfinished(const Session& s) {
  if (s.has_container()) {
    return s.child ? fmt::format("its container (pid {}) has not ended", s.child->pid())
                   : "the container it adopted has not ended";
  }
  if (s.state.stage == policy::Stage::cleaning_up) {
    return "the cleanup of its last container is not committed" +
           (s.state.last_error.empty() ? std::string() : " (" + s.state.last_error + ")");
  }
  if (policy::stop_waits_for(s.state)) return "a check of its files has not returned";
  return {};
}

void Supervisor::Impl::maybe_finish_stop() {
  if (!stopping_ || (stop_finished_ && stop_handlers_.empty())) return;
  if (!stop_deadline_passed_) {
    if (jobs_ > 0 || orphan_stopper_) return;
    for (const auto& [id, s] : sessions_) {
      if (!unfinished(*s).empty()) return;
    }
  } else if (!stop_finished_) {
    // The deadline: whatever is left is abandoned, said once per session; the lock and the
    // holder record stay for the next start, which stops an orphan and finishes a cleanup.
    for (const auto& [id, s] : sessions_) {
      auto left = unfinished(*s);
      if (left.empty()) continue;
      abandoned_work_ = true;
      emit_for(*s, EventKind::session_error, "stop abandoned: " + left + "; the next start finishes it");
    }
    if (orphan_stopper_) abandoned_work_ = true;
  }
  // Done, or given up: the install's cgroup subtree goes too when nothing is left in it (rmdir
  // refuses otherwise).
  stop_finished_ = true;
  if (cgroups_) ::rmdir(cgroups_->path().c_str());
  if (cgroup_watcher_) cgroup_watcher_->close();
  stop_deadline_->cancel();
  auto handlers = std::move(stop_handlers_);
  stop_handlers_.clear();
  for (auto& h : handlers) asio::post(home_, std::move(h));
}

std::vector<SessionView> Supervisor::Impl::views() const {
  std::vector<SessionView> out;
  for (const auto& [id, s] : sessions_) {
    out.push_back({s->id, s->agent_group_id, phase_of(s->state.stage), s->child ? s->child->pid() : 0,
                   s->state.start_failures, s->state.backoff_until, s->state.next_due, s->watched, s->state.last_error});
  }
  return out;
}

Supervisor::Supervisor(asio::any_io_executor executor, store::DataDir data, SupervisorOptions options,
                       EventHandler on_event)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(data), std::move(options), std::move(on_event))) {}

Supervisor::~Supervisor() = default;

void Supervisor::start() { impl_->start(); }
void Supervisor::request_check(const std::string& session_id) { impl_->request_check(session_id); }
void Supervisor::sweep_now() { impl_->sweep(); }
void Supervisor::async_stop(std::function<void()> done) { impl_->async_stop(std::move(done)); }
bool Supervisor::stop_abandoned_work() const { return impl_->stop_abandoned_work(); }
std::vector<SessionView> Supervisor::sessions() const { return impl_->views(); }
std::size_t Supervisor::pending_work() const { return static_cast<std::size_t>(impl_->jobs()); }
Supervisor::Counters Supervisor::counters() const { return impl_->counters(); }

}  // namespace hostsweep::supervisor
