#include "hostsweep/supervisor/supervisor.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <map>

#include <fmt/format.h>

#include "hostsweep/os/directory_watcher.hpp"
#include "hostsweep/policy/time_zone.hpp"
#include "hostsweep/store/registry.hpp"
#include "session_check.hpp"

namespace hostsweep::supervisor {
namespace asio = boost::asio;

const char* event_name(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::container_started: return "container.started";
    case EventKind::container_start_failed: return "container.start_failed";
    case EventKind::container_exited: return "container.exited";
    case EventKind::container_killed: return "container.killed";
    case EventKind::message_completed: return "message.completed";
    case EventKind::message_failed: return "message.failed";
    case EventKind::message_retried: return "message.retried";
    case EventKind::recurrence_scheduled: return "recurrence.scheduled";
    case EventKind::recurrence_invalid: return "recurrence.invalid";
    case EventKind::session_backoff: return "session.backoff";
    case EventKind::session_added: return "session.added";
    case EventKind::session_removed: return "session.removed";
    case EventKind::session_locked_elsewhere: return "session.locked_elsewhere";
    case EventKind::session_error: return "session.error";
    case EventKind::watch_unavailable: return "watch.unavailable";
    case EventKind::watch_overflow: return "watch.overflow";
    case EventKind::sweep_completed: return "sweep.completed";
  }
  return "unknown";
}

const char* to_string(Phase phase) noexcept {
  switch (phase) {
    case Phase::idle: return "idle";
    case Phase::running: return "running";
    case Phase::stopping: return "stopping";
    case Phase::backing_off: return "backing_off";
  }
  return "unknown";
}

namespace {

using Strand = asio::strand<asio::thread_pool::executor_type>;

// The steady-clock instant at which the wall clock reads `t` (deadlines are wall-clock UTC,
// timers are steady).
asio::steady_timer::time_point steady_at(TimePoint t) {
  auto wait = t - policy::now_utc();
  return asio::steady_timer::clock_type::now() + std::max(wait, Duration::zero());
}

// The pool's threads run at a lower priority than the caller's: on a machine with few cores a
// sweep's database work would otherwise hold the caller's loop off the CPU for whole scheduler
// slices (tens of ms at 10,000 sessions on 2 cores). The scheduler still gives them a share
// (about a tenth of a core against each busy process of normal priority), so a check on the
// path of a kill or a start is slowed under load, never starved. Once per pool thread; best
// effort.
constexpr int kPoolNiceness = 10;

void lower_this_threads_priority() {
  thread_local bool lowered = false;
  if (lowered) return;
  lowered = true;
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kPoolNiceness);
}

}  // namespace

// One supervised session: its phase, its container, its timers. Owned by Impl::sessions_.
struct Session {
  Session(asio::any_io_executor home, Strand db_strand, store::Session s)
      : id(s.record.id),
        agent_group_id(s.record.agent_group_id),
        files(std::move(s.files)),
        db(std::move(db_strand)),
        due_timer(home),
        stuck_timer(home),
        kill_timer(home),
        backoff_timer(home),
        retry_timer(home) {}

  std::string id;
  std::string agent_group_id;
  store::SessionFiles files;
  Strand db;  // this session's database work runs here, in order

  Phase phase = Phase::idle;
  bool check_in_flight = false;
  bool check_again = false;
  bool retiring = false;  // removed from the registry: no new start, forgotten once idle

  // The container, while there is one.
  std::unique_ptr<runtime::ChildProcess> child;
  std::unique_ptr<runtime::ChildProcess> stopper;  // the runtime's stop command, if any
  std::optional<os::SessionLock> lock;              // held from start until cleanup is done
  std::uint64_t generation = 0;                     // tells stale callbacks from current ones
  TimePoint started_at{};
  asio::steady_timer::time_point started_steady{};
  bool did_work = false;
  bool cleanup_pending = false;  // exited; the next check is its cleanup
  bool stopped_for_shutdown = false;

  int start_failures = 0;
  std::optional<TimePoint> backoff_until;
  std::optional<TimePoint> next_due;
  std::shared_ptr<const sweep::PassMemo> memo;  // what the last check read (see sweep::PassMemo)
  bool watched = false;
  std::string last_error;
  long reported_foreign_holder = 0;

  asio::steady_timer due_timer;
  asio::steady_timer stuck_timer;
  asio::steady_timer kill_timer;
  asio::steady_timer backoff_timer;
  asio::steady_timer retry_timer;  // re-check a session whose lock an orphan holds
};

class Supervisor::Impl : public std::enable_shared_from_this<Supervisor::Impl> {
 public:
  using Counters = Supervisor::Counters;
  Impl(asio::any_io_executor executor, store::DataDir data, SupervisorOptions options, EventHandler on_event)
      : home_(std::move(executor)),
        data_(std::move(data)),
        options_(resolve_zone(std::move(options))),
        on_event_(std::move(on_event)),
        pool_(std::max<std::size_t>(1, options_.database_threads)),
        registry_strand_(asio::make_strand(pool_.get_executor())),
        sweep_timer_(home_) {}

  // The zone is resolved once, here: an unknown name is a configuration error at construction.
  static SupervisorOptions resolve_zone(SupervisorOptions options) {
    options.policy.zone = &policy::find_time_zone(options.timezone);
    return options;
  }

  ~Impl() {
    // Pool jobs hold no reference to this object, so joining here cannot deadlock.
    pool_.join();
  }

  void start() {
    if (started_) return;
    started_ = true;
    if (options_.watch_files) start_watching();
    sweep();
  }

  void sweep() { reload_registry(true); }

  // Re-reads the registry: new sessions are added (and checked), removed ones retired. With
  // `check_all`, every session is checked too: that is the sweep.
  void reload_registry(bool check_all) {
    if (stopping_) return;
    ++jobs_;
    // Pool jobs never lock `weak`: if they held the last reference, ~Impl would join the pool
    // from inside it. They post their result home, where `weak` is checked.
    asio::post(registry_strand_, [weak = weak_from_this(), home = home_, data = data_, check_all]() mutable {
      lower_this_threads_priority();
      // Indexed here, on the pool: with 10,000 sessions that is milliseconds the caller's loop keeps.
      std::map<std::string, store::Session> sessions;
      std::optional<Error> error;
      try {
        for (auto& session : store::list_sessions(data, true)) {
          std::string id = session.record.id;
          sessions.emplace(std::move(id), std::move(session));
        }
      } catch (const Error& e) {
        error = e;
      }
      asio::post(home, [weak, check_all, sessions = std::move(sessions), error = std::move(error)]() mutable {
        if (auto self = weak.lock()) self->on_registry(std::move(sessions), std::move(error), check_all);
      });
    });
  }

  void request_check(const std::string& id) {
    if (auto* s = find(id)) check(*s);
  }

  void async_stop(std::function<void()> done) {
    if (stopping_) {
      if (done) stop_handlers_.push_back(std::move(done));
      maybe_finish_stop();
      return;
    }
    stopping_ = true;
    if (done) stop_handlers_.push_back(std::move(done));
    sweep_timer_.cancel();
    if (watcher_) watcher_->close();
    for (auto& [id, s] : sessions_) {
      s->due_timer.cancel();
      s->backoff_timer.cancel();
      s->retry_timer.cancel();
      if (s->phase == Phase::running) kill(*s, "shutdown");
      if (s->phase == Phase::stopping) s->stopped_for_shutdown = true;
    }
    maybe_finish_stop();
  }

  std::vector<SessionView> views() const {
    std::vector<SessionView> out;
    for (const auto& [id, s] : sessions_) {
      out.push_back({s->id, s->agent_group_id, s->phase, s->child ? s->child->pid() : 0, s->start_failures,
                     s->backoff_until, s->next_due, s->watched});
    }
    return out;
  }

 private:
  Session* find(const std::string& id) {
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second.get();
  }

  void emit(Event event) {
    if (!on_event_) return;
    event.at = policy::now_utc();
    on_event_(event);
  }

  void emit_for(const Session& s, EventKind kind, std::string reason = {}) {
    emit({.kind = kind, .session_id = s.id, .pid = s.child ? s.child->pid() : 0, .reason = std::move(reason)});
  }

  // --- the registry and the sweep -------------------------------------------------------------

  void on_registry(std::map<std::string, store::Session> listed, std::optional<Error> error, bool check_all) {
    --jobs_;
    ++counters_.registry_reloads;
    if (error) {
      emit({.kind = EventKind::session_error, .reason = error->what()});
    } else {
      reconcile(listed, check_all);
    }
    std::vector<std::string> forget;
    for (auto& [id, s] : sessions_) {
      if (s->retiring && s->phase == Phase::idle && !s->check_in_flight) forget.push_back(id);
    }
    for (const auto& id : forget) forget_session(id);
    if (check_all) check_in_slices(std::nullopt, 0);
    // What is left of the listing is freed on the pool: at 10,000 sessions, milliseconds.
    asio::post(pool_, [unused = std::move(listed)] {});
    maybe_finish_stop();
  }

  // Sessions new in the registry are added (and checked, unless a sweep checks everything);
  // sessions gone from it are retired. Both maps are ordered by id: one walk finds both.
  void reconcile(std::map<std::string, store::Session>& listed, bool check_all) {
    auto known = sessions_.begin();
    auto retire = [this](Session& s) {
      if (s.retiring) return;
      s.retiring = true;
      emit_for(s, EventKind::session_removed);
    };
    for (auto& [id, listed_session] : listed) {
      while (known != sessions_.end() && known->first < id) retire(*(known++)->second);
      if (known != sessions_.end() && known->first == id) {
        ++known;
        continue;
      }
      // Inserted before `known`, which stays valid: the walk goes on from there.
      auto session = std::make_unique<Session>(home_, asio::make_strand(pool_.get_executor()), std::move(listed_session));
      emit_for(*session, EventKind::session_added);
      watch(*session);
      auto& added = *sessions_.emplace(id, std::move(session)).first->second;
      if (!check_all) check(added);
    }
    while (known != sessions_.end()) retire(*(known++)->second);
  }

  // A sweep dispatches its checks a slice at a time, each slice its own handler, so that the
  // caller's loop never runs one long handler (10,000 sessions at once held it for tens of ms).
  // A slice resumes after the last id it checked: sessions added or forgotten meanwhile are fine.
  static constexpr std::size_t kChecksPerSlice = 256;

  void check_in_slices(std::optional<std::string> after, int checked) {
    auto it = after ? sessions_.upper_bound(*after) : sessions_.begin();
    for (std::size_t n = 0; it != sessions_.end() && n < kChecksPerSlice; ++it, ++n, ++checked) check(*it->second);
    if (it != sessions_.end() && !stopping_) {
      ++jobs_;
      asio::post(home_, [weak = weak_from_this(), last = std::prev(it)->first, checked] {
        if (auto self = weak.lock()) {
          --self->jobs_;
          self->check_in_slices(last, checked);
          self->maybe_finish_stop();
        }
      });
      return;
    }
    emit({.kind = EventKind::sweep_completed, .tries = checked});
    arm_sweep_timer();
  }

  void forget_session(const std::string& id) {
    if (watcher_) watcher_->remove(id);
    sessions_.erase(id);
  }

  // --- file events --------------------------------------------------------------------------

  // The registry is watched under a key no session id can take (ids have no spaces).
  static constexpr const char* kRegistryKey = " registry";

  void start_watching() {
    try {
      watcher_.emplace(
          home_,
          [weak = weak_from_this()](const std::string& key, const std::vector<std::string>& names) {
            if (auto self = weak.lock()) self->on_files_changed(key, names);
          },
          [weak = weak_from_this()] {
            if (auto self = weak.lock()) self->on_watch_overflow();
          },
          options_.max_watches);
    } catch (const Error& e) {
      emit({.kind = EventKind::watch_unavailable, .reason = e.what(), .detail = "every session is polled at the sweep"});
      return;
    }
    if (auto ec = watcher_->add(kRegistryKey, data_.root())) {
      emit({.kind = EventKind::watch_unavailable, .reason = ec.message(), .detail = "new sessions are found at the sweep"});
    }
  }

  void watch(Session& s) {
    if (!watcher_ || !watcher_->is_open()) return;
    auto ec = watcher_->add(s.id, s.files.dir);
    s.watched = !ec;
    // Logged once: at the kernel's watch limit every further session would say the same.
    if (ec && !reported_watch_limit_) {
      reported_watch_limit_ = true;
      emit({.kind = EventKind::watch_unavailable,
            .session_id = s.id,
            .reason = ec.message(),
            .detail = "this and further unwatched sessions are polled at each sweep"});
    }
  }

  // Which names matter: the heartbeat, and commits (SQLite's journal comes and goes with each
  // write transaction). Not inbound.db itself: this process opens it read-write for every check,
  // and closing it would re-trigger the check forever. Not the lock file, for the same reason.
  static bool is_signal(const std::string& name) {
    return name == ".heartbeat" || name == "outbound.db" || name == "outbound.db-journal" ||
           name == "inbound.db-journal";
  }

  void on_files_changed(const std::string& key, const std::vector<std::string>& names) {
    if (key == kRegistryKey) {
      for (const auto& name : names) {
        // Commits only (the journal comes and goes): opening the file is no change.
        if (name == "hostsweep.db-journal") return reload_registry(false);
      }
      return;
    }
    Session* s = find(key);
    if (!s) return;
    if (!names.empty() && names.front().empty()) {
      s->watched = false;  // the directory went away: the registry says whether the session did
      return reload_registry(false);
    }
    for (const auto& name : names) {
      if (is_signal(name)) return check(*s);
    }
  }

  void on_watch_overflow() {
    emit({.kind = EventKind::watch_overflow,
          .detail = watcher_ && watcher_->is_open() ? "events were lost: every session is checked"
                                                    : "the watcher failed: sessions are polled at each sweep"});
    if (watcher_ && !watcher_->is_open()) {
      for (auto& [id, s] : sessions_) s->watched = false;
    }
    sweep();
  }

  void arm_sweep_timer() {
    if (stopping_) return;
    sweep_timer_.expires_after(options_.sweep_interval);
    sweep_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->sweep();
    });
  }

  // --- checks: the blocking work, one at a time per session ----------------------------------

  void check(Session& s) {
    if (s.check_in_flight) {
      s.check_again = true;  // coalesced: a burst of triggers becomes one more check
      return;
    }
    s.check_in_flight = true;
    s.check_again = false;
    ++jobs_;
    detail::CheckInput input;
    input.pass.files = s.files;
    input.pass.policy = options_.policy;
    if (s.child) input.pass.own_container_since = s.started_at;
    if (!s.child && s.lock) input.pass.held_lock = std::move(s.lock);
    s.lock.reset();
    input.pass.may_start = !stopping_ && !s.retiring && !s.cleanup_pending && s.phase == Phase::idle;
    input.pass.retry_orphans = !s.stopped_for_shutdown;
    input.pass.memo = s.memo;
    input.cleanup = s.cleanup_pending && !s.child;
    asio::post(s.db, [weak = weak_from_this(), home = home_, id = s.id, input = std::move(input)]() mutable {
      lower_this_threads_priority();
      input.pass.now = policy::now_utc();  // when the work runs, not when it was queued
      auto result = detail::run_check(std::move(input));
      asio::post(home, [weak, id, result = std::move(result)]() mutable {
        if (auto self = weak.lock()) self->on_check(id, std::move(result));
      });
    });
  }

  void on_check(const std::string& id, detail::CheckResult result) {
    --jobs_;
    ++counters_.checks;
    Session* found = find(id);
    if (!found) return maybe_finish_stop();
    Session& s = *found;
    s.check_in_flight = false;
    report(s, result);
    s.next_due = result.pass.summary.next_due;
    s.memo = result.pass.memo;

    // Only the check that ran the cleanup ends it: one dispatched before the exit did not.
    if (s.cleanup_pending && result.cleanup && !result.error) {
      finish_cleanup(s);
    } else if (s.child && s.phase == Phase::running && result.pass.stuck) {
      const auto& stuck = *result.pass.stuck;
      if (stuck.verdict != policy::StuckVerdict::healthy) {
        // How far past its deadline the kill comes: the measure of "at its deadline".
        kill(s, policy::to_string(stuck.verdict), stuck.reason, stuck.silence - stuck.window);
      } else if (stuck.deadline) {
        arm(s, s.stuck_timer, *stuck.deadline);
      }
    } else if (result.pass.start_lock) {
      if (s.phase == Phase::idle && !stopping_ && !s.child) start_container(s, std::move(*result.pass.start_lock));
    } else if (result.pass.held_elsewhere) {
      handle_foreign_holder(s, result.pass.holder);
    }

    if (s.next_due && !stopping_) arm(s, s.due_timer, *s.next_due);
    // While stopping, only a pending cleanup still needs its check.
    if (s.check_again && (!stopping_ || s.cleanup_pending)) check(s);
    else if (s.retiring && s.phase == Phase::idle && !s.child) forget_session(id);
    maybe_finish_stop();
  }

  // Events for what a check changed, and one error report per distinct error.
  void report(Session& s, const detail::CheckResult& result) {
    if (result.error) {
      if (result.error->what() != s.last_error) {
        s.last_error = result.error->what();
        emit_for(s, EventKind::session_error, s.last_error);
      }
    } else {
      s.last_error.clear();
    }
    if (!result.pass.settled.empty()) s.did_work = true;
    for (const auto& settled : result.pass.settled) {
      bool failed = settled.status == "failed";
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

  void arm(Session& s, asio::steady_timer& timer, TimePoint when) {
    timer.expires_at(steady_at(when));
    timer.async_wait([weak = weak_from_this(), id = s.id](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->request_check(id);
    });
  }

  // --- containers -----------------------------------------------------------------------------

  void start_container(Session& s, os::SessionLock lock) {
    runtime::ContainerSpec spec{s.files.dir.string(), s.id, s.agent_group_id,
                                runtime::container_name(s.agent_group_id, s.id)};
    std::error_code ec;
    std::unique_ptr<runtime::ChildProcess> child;
    std::string failure;
    try {
      child = runtime::ChildProcess::start(home_, runtime::start_command(options_.runtime, spec), lock.fd(), ec);
      if (!child) failure = fmt::format("cannot start the agent command: {}", ec.message());
    } catch (const Error& e) {
      failure = e.what();
    }
    if (!child) {
      emit_for(s, EventKind::container_start_failed, failure);
      back_off(s, {false, false, Duration{0}});
      return;  // the lock is released here
    }
    s.child = std::move(child);
    s.started_at = policy::now_utc();
    s.started_steady = asio::steady_timer::clock_type::now();
    s.did_work = false;
    s.phase = Phase::running;
    ++s.generation;
    try {
      lock.record_holder(s.child->pid(), s.started_at, static_cast<long>(::getpid()));
    } catch (const Error& e) {
      emit_for(s, EventKind::session_error, e.what());  // only `explain` reads it; the lock still holds
    }
    s.lock = std::move(lock);
    emit_for(s, EventKind::container_started);
    s.child->async_wait([weak = weak_from_this(), id = s.id, generation = s.generation](std::error_code wait_ec,
                                                                                          runtime::ExitStatus status) {
      if (wait_ec) return;
      if (auto self = weak.lock()) self->on_exit(id, generation, status);
    });
    check(s);  // arms the liveness deadline
  }

  void on_exit(const std::string& id, std::uint64_t generation, runtime::ExitStatus status) {
    Session* found = find(id);
    if (!found || found->generation != generation || !found->child) return;
    Session& s = *found;
    // Stragglers of its process group (grandchildren) go with it before outbound.db is written.
    s.child->signal_group(SIGKILL);
    emit({.kind = EventKind::container_exited, .session_id = s.id, .pid = s.child->pid(), .exit = status});
    s.child.reset();
    s.stuck_timer.cancel();
    s.kill_timer.cancel();
    s.phase = Phase::idle;
    s.cleanup_pending = true;
    check(s);  // the crashed-container cleanup, under the lock we still hold
  }

  void finish_cleanup(Session& s) {
    s.cleanup_pending = false;
    bool shutdown = s.stopped_for_shutdown;
    s.stopped_for_shutdown = false;
    s.stopper.reset();
    auto uptime = std::chrono::duration_cast<Duration>(asio::steady_timer::clock_type::now() - s.started_steady);
    if (shutdown) return;
    if (back_off(s, {true, s.did_work, uptime})) return;
    check(s);  // work may be due for the next container
  }

  // Applies the start backoff after a run; true when the session now waits.
  bool back_off(Session& s, const policy::ContainerRun& run) {
    auto next = policy::next_start_backoff(options_.start_backoff, s.start_failures, run);
    s.start_failures = next.failures;
    if (next.delay <= Duration::zero()) {
      s.backoff_until.reset();
      return false;
    }
    s.phase = Phase::backing_off;
    s.backoff_until = policy::now_utc() + next.delay;
    emit({.kind = EventKind::session_backoff,
          .session_id = s.id,
          .reason = run.started ? "the container ended without doing any work" : "the container could not start",
          .tries = next.failures,
          .delay = next.delay});
    s.backoff_timer.expires_after(next.delay);
    s.backoff_timer.async_wait([weak = weak_from_this(), id = s.id](boost::system::error_code ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self) return;
      if (Session* found = self->find(id); found && found->phase == Phase::backing_off) {
        found->phase = Phase::idle;
        found->backoff_until.reset();
        self->check(*found);
      }
    });
    return true;
  }

  void kill(Session& s, const std::string& reason, const std::string& detail = {}, Duration late = Duration{0}) {
    if (s.phase != Phase::running || !s.child) return;
    s.phase = Phase::stopping;
    s.stuck_timer.cancel();
    emit({.kind = EventKind::container_killed,
          .session_id = s.id,
          .pid = s.child->pid(),
          .reason = reason,
          .delay = late,
          .detail = detail});
    runtime::ContainerSpec spec{s.files.dir.string(), s.id, s.agent_group_id,
                                runtime::container_name(s.agent_group_id, s.id)};
    auto stop = runtime::stop_command(options_.runtime, spec, options_.kill_grace);
    std::error_code ec;
    if (stop) s.stopper = runtime::ChildProcess::start(home_, *stop, -1, ec);
    if (!s.stopper) s.child->signal_group(SIGTERM);
    s.kill_timer.expires_after(options_.kill_grace);
    s.kill_timer.async_wait([weak = weak_from_this(), id = s.id, generation = s.generation](boost::system::error_code ec2) {
      if (ec2) return;
      auto self = weak.lock();
      if (!self) return;
      Session* found = self->find(id);
      if (found && found->generation == generation && found->child) found->child->signal_group(SIGKILL);
    });
  }

  // A lock held by a process that is not ours. A live supervisor's container is left alone;
  // the container of a supervisor that died (an orphan) is stopped, so that its session can be
  // cleaned up and supervised again.
  void handle_foreign_holder(Session& s, const std::optional<os::LockHolder>& holder) {
    bool orphan = holder && holder->owner_pid > 0 && holder->owner_pid != ::getpid() &&
                  ::kill(static_cast<pid_t>(holder->owner_pid), 0) != 0 && errno == ESRCH;
    long pid = holder ? holder->pid : -1;
    if (s.reported_foreign_holder != pid) {
      s.reported_foreign_holder = pid;
      if (orphan) {
        emit({.kind = EventKind::container_killed, .session_id = s.id, .pid = static_cast<int>(pid), .reason = "orphan"});
        ::kill(static_cast<pid_t>(-pid), SIGTERM);
      } else {
        emit_for(s, EventKind::session_locked_elsewhere,
                 holder ? fmt::format("container pid {} of supervisor pid {}", holder->pid, holder->owner_pid)
                        : "holder unknown");
      }
    } else if (orphan) {
      ::kill(static_cast<pid_t>(-pid), SIGKILL);  // it outlived the grace
    }
    if (stopping_) return;
    // The holder's exit frees the lock without any file event: look again soon.
    s.retry_timer.expires_after(orphan ? options_.kill_grace : options_.sweep_interval);
    s.retry_timer.async_wait([weak = weak_from_this(), id = s.id](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->request_check(id);
    });
  }

  void maybe_finish_stop() {
    if (!stopping_ || jobs_ > 0) return;
    for (const auto& [id, s] : sessions_) {
      if (s->child || s->check_in_flight || s->cleanup_pending) return;
    }
    auto handlers = std::move(stop_handlers_);
    stop_handlers_.clear();
    for (auto& h : handlers) asio::post(home_, std::move(h));
  }

  asio::any_io_executor home_;
  store::DataDir data_;
  SupervisorOptions options_;
  EventHandler on_event_;
  asio::thread_pool pool_;
  Strand registry_strand_;
  asio::steady_timer sweep_timer_;
  std::optional<os::DirectoryWatcher> watcher_;
  bool reported_watch_limit_ = false;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  int jobs_ = 0;
  Counters counters_;
  bool started_ = false;
  bool stopping_ = false;
  std::vector<std::function<void()>> stop_handlers_;

  friend class Supervisor;
};

Supervisor::Supervisor(asio::any_io_executor executor, store::DataDir data, SupervisorOptions options,
                       EventHandler on_event)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(data), std::move(options), std::move(on_event))) {}

Supervisor::~Supervisor() = default;

void Supervisor::start() { impl_->start(); }
void Supervisor::request_check(const std::string& session_id) { impl_->request_check(session_id); }
void Supervisor::sweep_now() { impl_->sweep(); }
void Supervisor::async_stop(std::function<void()> done) { impl_->async_stop(std::move(done)); }
std::vector<SessionView> Supervisor::sessions() const { return impl_->views(); }
std::size_t Supervisor::pending_work() const { return static_cast<std::size_t>(impl_->jobs_); }
Supervisor::Counters Supervisor::counters() const { return impl_->counters_; }

}  // namespace hostsweep::supervisor
