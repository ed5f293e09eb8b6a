// The supervisor's lifetime: construction, start, the bounded stop (FAILURE-MODES.md 15), and
// the public surface. See supervisor_impl.hpp for where the rest lives.
#include "hostsweep/supervisor/supervisor.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "policy/time_zone.hpp"
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

// boost::system::error_category's destructor is protected and non-virtual by design (categories
// are never deleted through it): the warning does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class StopCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "hostsweep.stop"; }
  std::string message(int value) const override {
    switch (static_cast<stop_errc>(value)) {
      case stop_errc::abandoned_work:
        return "the stop abandoned work (see session.error): the next start on this data directory finishes it";
    }
    return "unknown stop error";
  }
};
#pragma GCC diagnostic pop

// Settings no supervisor can run with are refused here, by the option's name, rather than
// misbehaving later (a zero sweep interval would spin the loop).
void validate(const SupervisorOptions& o) {
  auto refuse = [](const char* option, const char* why) {
    throw Error(Errc::invalid_argument, fmt::format("SupervisorOptions::{}: {}", option, why));
  };
  auto positive = [&](Duration d, const char* option) {
    if (d <= Duration::zero()) refuse(option, "must be longer than 0");
  };
  auto not_negative = [&](Duration d, const char* option) {
    if (d < Duration::zero()) refuse(option, "must not be negative");
  };
  if (o.runtime.agent_command.empty()) refuse("runtime.agent_command", "is empty: no agent to run");
  positive(o.sweep_interval, "sweep_interval");
  not_negative(o.kill_grace, "kill_grace");
  not_negative(o.stop_timeout, "stop_timeout");
  positive(o.policy.stuck.ceiling, "policy.stuck.ceiling");
  positive(o.policy.stuck.claim_tolerance, "policy.stuck.claim_tolerance");
  positive(o.policy.stuck.startup_grace, "policy.stuck.startup_grace");
  not_negative(o.policy.stuck.max_declared_timeout, "policy.stuck.max_declared_timeout");
  not_negative(o.policy.retry.backoff_base, "policy.retry.backoff_base");
  if (o.policy.retry.backoff_cap < o.policy.retry.backoff_base) {
    refuse("policy.retry.backoff_cap", "must not be shorter than policy.retry.backoff_base");
  }
  if (o.policy.retry.max_tries < 0) refuse("policy.retry.max_tries", "must not be negative");
  not_negative(o.start_backoff.base, "start_backoff.base");
  if (o.start_backoff.cap < o.start_backoff.base) refuse("start_backoff.cap", "must not be shorter than start_backoff.base");
  not_negative(o.start_backoff.reset_after, "start_backoff.reset_after");
  if (o.idle_timeout) positive(*o.idle_timeout, "idle_timeout");
  if (o.start_failure_alert < 0) refuse("start_failure_alert", "must not be negative");
  if (o.container_log.max_bytes == 0) refuse("container_log.max_bytes", "must be more than 0");
  if (o.container_log.keep < 0) refuse("container_log.keep", "must not be negative");
  not_negative(o.container_log.drain, "container_log.drain");
}

// The zone is resolved once, here (policy.zone is its one setting): null is the host's.
SupervisorOptions checked(SupervisorOptions options) {
  validate(options);
  if (!options.policy.zone) options.policy.zone = &policy::find_time_zone("");
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

const boost::system::error_category& stop_category() noexcept {
  static const StopCategory category;
  return category;
}

boost::system::error_code make_error_code(stop_errc e) noexcept { return {static_cast<int>(e), stop_category()}; }

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
      options_(checked(std::move(options))),
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

// The claim is made on the caller's thread so that a refusal is the caller's exception; the rest
// is the executor's. Nothing else touches instance_ before begin().
void Supervisor::Impl::start() {
  if (started_.exchange(true)) return;
  std::optional<detail::Instance> claimed;
  try {
    claimed.emplace(detail::claim_data_dir(data_));  // throws when another supervisor has it
  } catch (...) {
    started_ = false;
    throw;
  }
  asio::post(home_, [weak = weak_from_this(), instance = std::move(*claimed)]() mutable {
    if (auto self = weak.lock()) self->begin(std::move(instance));
  });
}

void Supervisor::Impl::begin(detail::Instance instance) {
  instance_.emplace(std::move(instance));
  if (stopping_) {
    // Stopped before it began: nothing to stop; the lock goes with the supervisor.
    maybe_finish_stop();
    return;
  }
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

void Supervisor::Impl::post_stop(StopHandler handler) {
  asio::post(home_, [weak = weak_from_this(), handler = std::move(handler)]() mutable {
    if (auto self = weak.lock()) self->async_stop(std::move(handler));
  });
}

void Supervisor::Impl::post_sweep() {
  asio::post(home_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->sweep();
  });
}

void Supervisor::Impl::post_reload() {
  asio::post(home_, [weak = weak_from_this()] {
    if (auto self = weak.lock(); self && self->instance_) self->reload_registry(false);
  });
}

void Supervisor::Impl::post_check(std::string id) {
  asio::post(home_, [weak = weak_from_this(), id = std::move(id)] {
    if (auto self = weak.lock()) self->check_requested(id);
  });
}

void Supervisor::Impl::async_stop(StopHandler handler) {
  // Cancellation may be emitted from any thread: it only posts the forcing here.
  auto slot = asio::get_associated_cancellation_slot(handler);
  if (slot.is_connected()) {
    slot.assign([weak = weak_from_this(), home = home_](asio::cancellation_type type) {
      if (type == asio::cancellation_type::none) return;
      asio::post(home, [weak] {
        if (auto self = weak.lock()) self->on_stop_cancelled();
      });
    });
  }
  auto work = asio::prefer(asio::get_associated_executor(handler, home_), asio::execution::outstanding_work.tracked);
  stop_handlers_.push_back({std::move(handler), std::move(work)});
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

// The stop goes to its final stage, as on a second request; its handler completes as usual.
void Supervisor::Impl::on_stop_cancelled() {
  if (!stopping_ || stop_finished_) return;
  force_stop();
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
  if (!stop_deadline_passed_ && !stop_finished_) {
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
  const boost::system::error_code result = abandoned_work_ ? make_error_code(stop_errc::abandoned_work)
                                                           : boost::system::error_code{};
  for (auto& pending : handlers) {
    // Done with cancellation before completing: the slot may go with the handler.
    auto slot = asio::get_associated_cancellation_slot(pending.handler);
    if (slot.is_connected()) slot.clear();
    // Through home_, then dispatched to the handler's own executor: never inline from here.
    asio::post(home_, asio::append(std::move(pending.handler), result));
  }
}

std::vector<SessionView> Supervisor::Impl::views() const {
  std::lock_guard lock(views_mutex_);
  std::vector<SessionView> out;
  out.reserve(views_.size());
  for (const auto& [id, view] : views_) out.push_back(view);
  return out;
}

Supervisor::Supervisor(asio::any_io_executor executor, store::DataDir data, SupervisorOptions options,
                       EventHandler on_event)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(data), std::move(options), std::move(on_event))) {}

// The Impl may outlive this (a handler on the executor holds it while it runs); it says nothing more.
Supervisor::~Supervisor() { impl_->close(); }

Supervisor::executor_type Supervisor::get_executor() const noexcept { return impl_->executor(); }
void Supervisor::start() { impl_->start(); }
void Supervisor::request_check(const std::string& session_id) { impl_->post_check(session_id); }
void Supervisor::sweep_now() { impl_->post_sweep(); }
void Supervisor::reload_registry() { impl_->post_reload(); }
void Supervisor::initiate_stop(StopHandler handler) { impl_->post_stop(std::move(handler)); }
bool Supervisor::stop_abandoned_work() const { return impl_->stop_abandoned_work(); }
std::vector<SessionView> Supervisor::sessions() const { return impl_->views(); }
std::size_t Supervisor::pending_work() const { return static_cast<std::size_t>(impl_->jobs()); }
Supervisor::Counters Supervisor::counters() const { return impl_->counters(); }

}  // namespace hostsweep::supervisor
