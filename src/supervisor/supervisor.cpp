#include "hostsweep/supervisor/supervisor.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <map>
#include <set>

#include <fmt/format.h>

#include "hostsweep/os/cgroup.hpp"
#include "hostsweep/os/directory_watcher.hpp"
#include "hostsweep/os/holder_record.hpp"
#include "hostsweep/os/process.hpp"
#include "hostsweep/policy/time_zone.hpp"
#include "hostsweep/store/registry.hpp"
#include "instance.hpp"
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
    case EventKind::containment_reduced: return "containment.reduced";
    case EventKind::orphans_stopped: return "orphans.stopped";
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
// timers are steady). A deadline further away than kMaxTimerWait is armed at kMaxTimerWait,
// and the check it triggers then arms the rest (FAILURE-MODES.md 17): a time in year 9999
// would overflow the steady clock's nanoseconds into the past and fire at once, again and again.
constexpr Duration kMaxTimerWait = std::chrono::hours{24};

asio::steady_timer::time_point steady_at(TimePoint t) {
  auto wait = std::clamp(t - policy::now_utc(), Duration::zero(), kMaxTimerWait);
  return asio::steady_timer::clock_type::now() + wait;
}

// The pool's threads run at a lower priority than the caller's: on a machine with few cores a
// sweep's database work would otherwise hold the caller's loop off the CPU for whole scheduler
// slices (tens of ms at 10,000 sessions on 2 cores). The scheduler still gives them a share
// (about a tenth of a core against each busy process of normal priority), so a check on the
// path of a kill or a start is slowed under load, never starved. Once per pool thread; best
// effort.
constexpr int kPoolNiceness = 10;

// How long the start-up stop of docker's orphans may take beyond their kill grace (the engine
// listing them, its `stop` returning) before the daemon gives up on it and sweeps anyway.
constexpr Duration kOrphanStopSlack = std::chrono::seconds{30};

// A second stop request SIGKILLs every container, then waits this long for them to end and
// their cleanups to commit before it abandons what is left.
constexpr Duration kForcedStopGrace = std::chrono::seconds{1};

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
        retry_timer(home),
        end_timer(home) {}

  std::string id;
  std::string agent_group_id;
  store::SessionFiles files;
  Strand db;  // this session's database work runs here, in order

  Phase phase = Phase::idle;
  bool check_in_flight = false;
  bool check_again = false;
  bool retiring = false;  // removed from the registry: no new start, forgotten once idle

  // The container, while any process of it lives: ours (`child`, its first process, until it
  // exits), or an orphan of a supervisor that died, adopted to be stopped (`orphan`). With a
  // cgroup, the container has ended when the cgroup is empty; without, when its first process
  // has (its process group killed before it is reaped).
  std::unique_ptr<runtime::ChildProcess> child;
  std::optional<os::Cgroup> cgroup;
  std::optional<os::HolderRecord> orphan;
  std::optional<os::Pidfd> orphan_leader;                               // an orphan without a cgroup
  std::unique_ptr<asio::posix::stream_descriptor> orphan_leader_exit;  // polls a dup of its pidfd
  bool orphan_leads_group = false;  // verified: the orphan's leader still leads its process group
  bool ending = false;              // the first process is gone; waiting for the rest (cgroup)
  bool cgroup_watched = false;      // inotify reports its cgroup.events
  std::vector<std::unique_ptr<runtime::ChildProcess>> stoppers;  // the runtime's stop commands running
  std::optional<os::SessionLock> lock;              // held, on our own fd, from start until cleanup is done
  std::uint64_t generation = 0;                     // tells stale callbacks from current ones
  TimePoint started_at{};
  asio::steady_timer::time_point started_steady{};
  bool did_work = false;
  bool adopted = false;  // the container was an orphan: its run says nothing about starting ours
  bool cleanup_pending = false;  // exited; the next check is its cleanup
  int cleanup_failures = 0;      // consecutive failed cleanups: each is retried, with backoff
  bool stopped_for_shutdown = false;

  int start_failures = 0;
  std::optional<TimePoint> backoff_until;
  std::optional<TimePoint> next_due;
  std::shared_ptr<const sweep::PassMemo> memo;  // what the last check read (see sweep::PassMemo)
  bool watched = false;
  std::string last_error;
  long reported_foreign_holder = 0;
  bool reported_stuck_end = false;

  asio::steady_timer due_timer;
  asio::steady_timer stuck_timer;
  asio::steady_timer kill_timer;
  asio::steady_timer backoff_timer;
  asio::steady_timer retry_timer;  // re-check a session whose lock another process holds
  asio::steady_timer end_timer;    // polls a cgroup's end where it cannot be watched

  bool has_container() const { return child || orphan || ending; }
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
  bool stop_runtime_orphans() {
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
    orphan_stop_timer_.expires_after(options_.kill_grace + kOrphanStopSlack);
    orphan_stop_timer_.async_wait([weak = weak_from_this()](boost::system::error_code timer_ec) {
      auto self = weak.lock();
      if (timer_ec || !self || !self->orphan_stopper_) return;
      self->orphan_stop_timed_out_ = true;
      self->orphan_stopper_->signal_group(SIGKILL);
    });
    orphan_stopper_->async_wait([weak = weak_from_this()](std::error_code wait_ec, runtime::ExitStatus status) {
      if (wait_ec) return;
      if (auto self = weak.lock()) self->on_runtime_orphans_stopped(status);
    });
    return true;
  }

  void on_runtime_orphans_stopped(runtime::ExitStatus status) {
    orphan_stop_timer_.cancel();
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

  // Containers get cgroups of their own when the host allows it. Limits that cannot be applied
  // are an error here (CgroupTree::open throws), never dropped.
  void open_cgroups() {
    std::string why_not;
    cgroups_ = os::CgroupTree::open(options_.cgroup, instance_->install_id, options_.limits, why_not);
    if (!cgroups_) {
      emit({.kind = EventKind::containment_reduced,
            .reason = why_not,
            .detail = "containers run in process groups without a cgroup: a process that leaves its group "
                      "(setsid) outlives its container"});
      return;
    }
    try {
      cgroup_watcher_.emplace(
          home_,
          [weak = weak_from_this()](const std::string& id) {
            if (auto self = weak.lock()) self->on_cgroup_changed(id);
          },
          [weak = weak_from_this()] {
            auto self = weak.lock();
            if (!self) return;
            for (auto& [id, session] : self->sessions_) {
              if (session->ending) self->await_end(*session);
            }
          });
    } catch (const Error& e) {
      // await_end polls instead.
      emit({.kind = EventKind::watch_unavailable, .reason = e.what(), .detail = "a container's end is polled"});
    }
  }

  // At the first registry load no container of this data directory is ours yet, so processes
  // left in its cgroups belong to a supervisor that died. A registered session's are stopped by
  // its own checks (its record, or its populated cgroup, before any start); those of sessions no
  // longer registered are killed here.
  void kill_unregistered_leftovers() {
    if (!cgroups_) return;
    std::vector<os::Cgroup> leftovers;
    try {
      leftovers = cgroups_->populated();
    } catch (const Error& e) {
      emit({.kind = EventKind::session_error, .reason = e.what()});
    }
    for (const auto& leftover : leftovers) {
      if (sessions_.count(leftover.session_id())) continue;
      emit({.kind = EventKind::container_killed,
            .session_id = leftover.session_id(),
            .reason = "orphan",
            .detail = "left in " + leftover.path().string() + " by a supervisor that died; the session is no longer registered"});
      try {
        leftover.kill();
      } catch (const Error& e) {
        emit({.kind = EventKind::session_error, .session_id = leftover.session_id(), .reason = e.what()});
      }
    }
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
      std::vector<Error> errors;  // the registry's, or one per bad row (FAILURE-MODES.md 20)
      bool unreadable = false;
      try {
        auto listing = store::list_sessions_checked(data, true);
        for (auto& session : listing.sessions) {
          std::string id = session.record.id;
          sessions.emplace(std::move(id), std::move(session));
        }
        errors = std::move(listing.bad_rows);
      } catch (const Error& e) {
        errors.push_back(e);
        unreadable = true;
      }
      asio::post(home, [weak, check_all, unreadable, sessions = std::move(sessions), errors = std::move(errors)]() mutable {
        if (auto self = weak.lock()) self->on_registry(std::move(sessions), std::move(errors), unreadable, check_all);
      });
    });
  }

  void request_check(const std::string& id) {
    if (auto* s = find(id)) check(*s);
  }

  void async_stop(std::function<void()> done) {
    if (stopping_) {
      if (done) stop_handlers_.push_back(std::move(done));
      force_stop();
      maybe_finish_stop();
      return;
    }
    stopping_ = true;
    if (done) stop_handlers_.push_back(std::move(done));
    arm_stop_deadline(options_.kill_grace + options_.stop_timeout);
    sweep_timer_.cancel();
    if (orphan_stopper_) orphan_stopper_->signal_group(SIGKILL);  // the next start tries again
    if (watcher_) watcher_->close();
    for (auto& [id, s] : sessions_) {
      s->due_timer.cancel();
      s->backoff_timer.cancel();
      s->retry_timer.cancel();
      // A cleanup that was waiting for its retry is tried now: the stop needs it.
      if (s->cleanup_pending && !s->has_container()) check(*s);
      if (s->phase == Phase::running) kill(*s, "shutdown");
      if (s->phase == Phase::stopping) s->stopped_for_shutdown = true;
    }
    maybe_finish_stop();
  }

  bool stop_abandoned_work() const { return abandoned_work_; }

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

  // `unreadable`: the registry as a whole could not be read (the sessions known stay as they are).
  void on_registry(std::map<std::string, store::Session> listed, std::vector<Error> errors, bool unreadable,
                   bool check_all) {
    --jobs_;
    ++counters_.registry_reloads;
    // Each distinct error once, not at every reload; the good rows are supervised regardless.
    std::set<std::string> current;
    for (const auto& e : errors) {
      current.insert(e.what());
      if (!reported_registry_errors_.count(e.what())) emit({.kind = EventKind::session_error, .reason = e.what()});
    }
    reported_registry_errors_ = std::move(current);
    if (!unreadable) {
      reconcile(listed, check_all);
      if (!leftovers_checked_) {
        leftovers_checked_ = true;
        kill_unregistered_leftovers();
      }
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
    // While any process of the container lives, the lock stays on our own fd, whatever a check
    // does (FAILURE-MODES.md 12); once it has ended, the cleanup check runs under it.
    if (s.has_container()) {
      input.pass.own_container_since = s.started_at;
    } else if (s.lock) {
      input.pass.held_lock = std::move(s.lock);
      s.lock.reset();
    }
    input.pass.may_start = !stopping_ && !s.retiring && !s.cleanup_pending && s.phase == Phase::idle;
    input.pass.retry_orphans = !s.stopped_for_shutdown;
    input.pass.memo = s.memo;
    input.cleanup = s.cleanup_pending && !s.has_container();
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

    // Only the check that ran the cleanup ends it: one dispatched before the exit did not. A
    // cleanup that failed is tried again, with backoff, while stopping too: a session never
    // waits for a trigger that may not come.
    if (s.cleanup_pending && result.cleanup) {
      if (result.error) {
        retry_cleanup(s);
      } else {
        s.cleanup_failures = 0;
        finish_cleanup(s);
      }
    } else if (s.has_container() && s.phase == Phase::running && result.pass.stuck) {
      const auto& stuck = *result.pass.stuck;
      if (stuck.verdict != policy::StuckVerdict::healthy) {
        // How far past its deadline the kill comes: the measure of "at its deadline".
        kill(s, policy::to_string(stuck.verdict), stuck.reason, stuck.silence - stuck.window);
      } else if (stuck.deadline) {
        arm(s, s.stuck_timer, *stuck.deadline);
      }
    } else if (result.pass.start_lock) {
      if (s.phase == Phase::idle && !stopping_ && !s.has_container()) start_container(s, std::move(*result.pass.start_lock));
    } else if (result.pass.orphan && result.pass.orphan_lock) {
      if (!s.has_container()) adopt_orphan(s, std::move(*result.pass.orphan_lock), *result.pass.orphan);
    } else if (result.pass.held_elsewhere) {
      handle_foreign_holder(s, result.pass.holder);
    }

    if (s.next_due && !stopping_) arm(s, s.due_timer, *s.next_due);
    // While stopping, only a pending cleanup still needs its check.
    if (s.check_again && (!stopping_ || s.cleanup_pending)) check(s);
    else if (s.retiring && s.phase == Phase::idle && !s.has_container()) forget_session(id);
    maybe_finish_stop();
  }

  // Events for what a check changed, and one error report per distinct error.
  void report(Session& s, const detail::CheckResult& result) {
    std::string error = result.error ? std::string(result.error->what())
                                     : result.pass.file_error.value_or(result.pass.heartbeat_problem.value_or(""));
    if (!error.empty()) {
      if (error != s.last_error) {
        s.last_error = error;
        emit_for(s, EventKind::session_error, s.last_error);
      }
    } else {
      s.last_error.clear();
    }
    if (!result.pass.settled.empty()) s.did_work = true;
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

  void arm(Session& s, asio::steady_timer& timer, TimePoint when) {
    timer.expires_at(steady_at(when));
    timer.async_wait([weak = weak_from_this(), id = s.id](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->request_check(id);
    });
  }

  // --- containers -----------------------------------------------------------------------------

  runtime::ContainerSpec container_spec(const Session& s) const {
    return {s.files.dir.string(), s.id, s.agent_group_id, runtime::container_name(s.agent_group_id, s.id),
            instance_->install_id};
  }

  void start_container(Session& s, os::SessionLock lock) {
    auto spec = container_spec(s);
    std::error_code ec;
    std::unique_ptr<runtime::ChildProcess> child;
    std::optional<os::Cgroup> cgroup;
    std::string failure;
    try {
      runtime::SpawnOptions spawn{.uid = options_.run_as_uid, .gid = options_.run_as_gid};
      if (options_.run_as_uid) {
        store::hand_over_session(s.files, *options_.run_as_uid, options_.run_as_gid.value_or(::getgid()));
      }
      os::UniqueFd cgroup_dir;
      if (cgroups_) {
        cgroup = cgroups_->container(s.agent_group_id, s.id);
        if (cgroup->populated()) {
          // Processes of an earlier container, whose supervisor died before it recorded them.
          adopt_orphan(s, std::move(lock), os::HolderRecord{.started_at = policy::now_utc(), .cgroup = cgroup->path()});
          return;
        }
        cgroup->create();
        cgroup_dir = cgroup->open_directory();
        spawn.cgroup_fd = cgroup_dir.get();
      }
      child = runtime::ChildProcess::start(home_, runtime::start_command(options_.runtime, spec), spawn, ec);
      if (!child) failure = fmt::format("cannot start the agent command: {}", ec.message());
    } catch (const Error& e) {
      failure = e.what();
    }
    if (!child) {
      if (cgroup) cgroup_step(s, [&] { cgroup->remove(); });
      emit_for(s, EventKind::container_start_failed, failure);
      back_off(s, {false, false, Duration{0}});
      return;  // the lock is released here
    }
    s.child = std::move(child);
    s.adopted = false;
    s.cgroup = std::move(cgroup);
    s.started_at = policy::now_utc();
    s.started_steady = asio::steady_timer::clock_type::now();
    s.did_work = false;
    s.phase = Phase::running;
    ++s.generation;
    // What a supervisor that outlives us (after a crash) needs to find this container, kept where
    // the container cannot write.
    auto identity = os::identify(s.child->pid());
    os::HolderRecord record{.container = identity ? *identity : os::ProcessIdentity{s.child->pid(), 0},
                            .started_at = s.started_at,
                            .supervisor = self_,
                            .cgroup = s.cgroup ? s.cgroup->path() : std::filesystem::path{}};
    try {
      os::write_holder_record(s.files.holder_record(), record);
    } catch (const Error& e) {
      emit_for(s, EventKind::session_error, e.what());
    }
    s.lock = std::move(lock);
    watch_cgroup(s);
    emit_for(s, EventKind::container_started);
    s.child->async_wait([weak = weak_from_this(), id = s.id, generation = s.generation](std::error_code wait_ec,
                                                                                          runtime::ExitStatus status) {
      if (wait_ec) return;
      if (auto self = weak.lock()) self->on_exit(id, generation, status);
    });
    check(s);  // arms the liveness deadline
  }

  // The container's first process has exited and is not reaped yet: its process group's id
  // cannot name anyone else, so the group (or the whole cgroup) is killed first, then it is
  // reaped. The container has ended once nothing of it is left.
  void on_exit(const std::string& id, std::uint64_t generation, runtime::ExitStatus status) {
    Session* found = find(id);
    if (!found || found->generation != generation || !found->child) return;
    Session& s = *found;
    emit({.kind = EventKind::container_exited, .session_id = s.id, .pid = s.child->pid(), .exit = status});
    if (s.cgroup) cgroup_step(s, [&] { s.cgroup->kill(); });
    else s.child->signal_group(SIGKILL);
    s.child->reap();
    s.child.reset();
    s.stuck_timer.cancel();
    s.kill_timer.cancel();
    s.ending = true;
    await_end(s);
  }

  // A dead supervisor's container that still lives: stopped (TERM, then KILL after the grace)
  // under the session lock, and cleaned up once it has ended. It is signalled only as the kernel
  // identifies it: its cgroup (this session's own, whatever the record says), or its first
  // process through a pidfd checked against the recorded start time (FAILURE-MODES.md 11).
  void adopt_orphan(Session& s, os::SessionLock lock, const os::HolderRecord& record) {
    std::string why_not;
    if (!record.cgroup.empty()) {
      if (!cgroups_ || record.cgroup != cgroups_->container(s.agent_group_id, s.id).path()) {
        report_unverified(s, fmt::format("its holder record names cgroup {}, which is not this session's",
                                         record.cgroup.string()));
        return;
      }
      s.cgroup = cgroups_->container(s.agent_group_id, s.id);
      s.ending = true;  // no first process of ours: the container has ended when its cgroup is empty
    } else {
      auto leader = os::Pidfd::open_verified(record.container, why_not);
      if (!leader) {
        // Gone since the check looked: nothing to stop, only the cleanup.
        s.lock = std::move(lock);
        s.ending = true;
        container_ended(s);
        return;
      }
      s.orphan_leads_group = os::process_group_of(record.container.pid) == record.container.pid &&
                             os::may_signal_group(record.container.pid);
      auto exit = std::make_unique<asio::posix::stream_descriptor>(home_, ::dup(leader->fd()));
      s.orphan_leader = std::move(leader);
      s.orphan_leader_exit = std::move(exit);
    }
    s.lock = std::move(lock);
    s.orphan = record;
    s.adopted = true;
    s.started_at = record.started_at;
    s.started_steady = asio::steady_timer::clock_type::now();
    s.phase = Phase::running;
    ++s.generation;
    watch_cgroup(s);
    if (s.orphan_leader_exit) {
      s.orphan_leader_exit->async_wait(asio::posix::stream_descriptor::wait_read,
                                       [weak = weak_from_this(), id = s.id, generation = s.generation](boost::system::error_code ec) {
                                         if (ec) return;
                                         auto self = weak.lock();
                                         if (!self) return;
                                         Session* found = self->find(id);
                                         if (!found || found->generation != generation) return;
                                         found->ending = true;
                                         self->await_end(*found);
                                       });
    }
    kill(s, "orphan",
         fmt::format("left by supervisor pid {}", record.supervisor.pid ? std::to_string(record.supervisor.pid) : "unknown"));
  }

  // Runs a cgroup operation on the home executor: a failure (the kernel refused, a file vanished)
  // is reported, never thrown into the caller's loop. False when it failed.
  template <typename F>
  bool cgroup_step(Session& s, F&& step) {
    try {
      step();
      return true;
    } catch (const Error& e) {
      if (s.last_error != e.what()) {  // once per distinct error: a poll may meet it again
        s.last_error = e.what();
        emit_for(s, EventKind::session_error, s.last_error);
      }
      return false;
    }
  }

  // A container we cannot identify is never signalled: one error, and the session is looked at
  // again later, when its lock and files may say more.
  void report_unverified(Session& s, const std::string& why) {
    emit_for(s, EventKind::session_error, "a container of this session may still run but cannot be verified (" + why +
                                              "): it is not signalled and the session is left alone");
    retry_later(s, options_.sweep_interval);
  }

  // Ours or adopted: the signal reaches the container and nothing else. With a cgroup, every
  // process in it (KILL through cgroup.kill); without, the process group of our own unreaped
  // child, or of a verified orphan leader that still leads its group (else the leader alone).
  void signal_container(Session& s, int signal) {
    if (s.cgroup) {
      cgroup_step(s, [&] {
        if (signal == SIGKILL) s.cgroup->kill();
        else s.cgroup->signal_all(signal);
      });
    } else if (s.child) {
      s.child->signal_group(signal);
    } else if (s.orphan_leader && !s.orphan_leader->exited()) {
      if (s.orphan_leads_group) ::kill(-s.orphan_leader->pid(), signal);
      else s.orphan_leader->send_signal(signal);
    }
  }

  // Waits until nothing of the container is left: its cgroup empty (watched), or its orphan
  // leader exited.
  void await_end(Session& s) {
    if (s.child || (s.orphan_leader && !s.orphan_leader->exited())) return;  // their exits call back
    bool populated = false;
    bool unreadable = s.cgroup && !cgroup_step(s, [&] { populated = s.cgroup->populated(); });
    if (populated || unreadable) {
      // inotify tells when cgroup.events changes (watch_cgroup); a poll stands in where it cannot.
      if (!s.cgroup_watched || unreadable) {
        s.end_timer.expires_after(std::chrono::milliseconds(50));
        s.end_timer.async_wait([weak = weak_from_this(), id = s.id](boost::system::error_code ec) {
          if (ec) return;
          auto self = weak.lock();
          if (!self) return;
          if (Session* found = self->find(id); found && found->ending) self->await_end(*found);
        });
      }
      return;
    }
    container_ended(s);
  }

  void container_ended(Session& s) {
    if (!s.ending) return;
    s.ending = false;
    s.end_timer.cancel();
    s.kill_timer.cancel();
    s.stuck_timer.cancel();
    os::remove_holder_record(s.files.holder_record());
    if (s.cgroup) {
      unwatch_cgroup(s);
      cgroup_step(s, [&] { s.cgroup->remove(); });
      s.cgroup.reset();
    }
    s.orphan.reset();
    s.orphan_leader.reset();
    s.orphan_leader_exit.reset();
    s.phase = Phase::idle;
    s.cleanup_pending = true;
    check(s);  // the crashed-container cleanup, under the lock we still hold
  }

  // A container's cgroup.events is watched under its session's id, from its creation (each
  // container's cgroup is a new file) until its removal.
  void watch_cgroup(Session& s) {
    s.cgroup_watched = false;
    if (!s.cgroup || !cgroup_watcher_ || !cgroup_watcher_->is_open()) return;
    s.cgroup_watched = !cgroup_watcher_->add(s.id, *s.cgroup);
  }

  void unwatch_cgroup(Session& s) {
    if (s.cgroup_watched && cgroup_watcher_) cgroup_watcher_->remove(s.id);
    s.cgroup_watched = false;
  }

  // cgroup.events changed: perhaps a container's last process has gone.
  void on_cgroup_changed(const std::string& id) {
    if (Session* s = find(id); s && s->ending) await_end(*s);
  }

  void retry_cleanup(Session& s) {
    ++s.cleanup_failures;
    auto delay = options_.start_backoff.base * (std::int64_t{1} << std::min(s.cleanup_failures - 1, 20));
    arm_retry(s, std::min<Duration>(delay, options_.start_backoff.cap));
  }

  void finish_cleanup(Session& s) {
    s.cleanup_pending = false;
    bool shutdown = s.stopped_for_shutdown;
    s.stopped_for_shutdown = false;
    auto uptime = std::chrono::duration_cast<Duration>(asio::steady_timer::clock_type::now() - s.started_steady);
    bool adopted = std::exchange(s.adopted, false);
    if (shutdown) return;
    if (!adopted && back_off(s, {true, s.did_work, uptime})) return;
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

  // SIGTERM (or the runtime's stop command), then SIGKILL after the kill grace.
  void kill(Session& s, const std::string& reason, const std::string& detail = {}, Duration late = Duration{0}) {
    if (s.phase != Phase::running || !s.has_container()) return;
    s.phase = Phase::stopping;
    s.stuck_timer.cancel();
    emit({.kind = EventKind::container_killed,
          .session_id = s.id,
          .pid = s.child ? s.child->pid() : s.orphan ? s.orphan->container.pid : 0,
          .reason = reason,
          .delay = late,
          .detail = detail});
    auto spec = container_spec(s);
    auto stop = s.child ? runtime::stop_command(options_.runtime, spec, options_.kill_grace) : std::nullopt;
    if (stop) run_stopper(s, *stop);
    else signal_container(s, SIGTERM);
    s.kill_timer.expires_after(options_.kill_grace);
    s.kill_timer.async_wait([weak = weak_from_this(), id = s.id, generation = s.generation](boost::system::error_code ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self) return;
      Session* found = self->find(id);
      if (found && found->generation == generation && found->has_container()) self->signal_container(*found, SIGKILL);
    });
    if (s.ending) await_end(s);
  }

  // The runtime's stop command (docker stop): waited for and reaped, never left a zombie.
  void run_stopper(Session& s, const std::vector<std::string>& argv) {
    std::error_code ec;
    auto stopper = runtime::ChildProcess::start(home_, argv, {}, ec);
    if (!stopper) {
      emit_for(s, EventKind::session_error, fmt::format("cannot run {}: {}", argv.front(), ec.message()));
      signal_container(s, SIGTERM);
      return;
    }
    auto* raw = stopper.get();
    s.stoppers.push_back(std::move(stopper));
    raw->async_wait([weak = weak_from_this(), id = s.id, raw](std::error_code wait_ec, runtime::ExitStatus) {
      if (wait_ec) return;
      auto self = weak.lock();
      if (!self) return;
      if (Session* found = self->find(id)) {
        auto& list = found->stoppers;
        auto it = std::find_if(list.begin(), list.end(), [raw](const auto& p) { return p.get() == raw; });
        if (it != list.end()) {
          (*it)->reap();
          list.erase(it);
        }
      }
    });
  }

  // Another process holds the session lock: a maintenance pass (sweep --once), or a
  // supervisor of another data directory pointed at the same sessions. It is never signalled:
  // the session is left alone until the lock frees, which no file event tells, so it is looked
  // at again soon.
  void handle_foreign_holder(Session& s, const std::optional<os::HolderRecord>& holder) {
    long pid = holder ? holder->container.pid : -1;
    if (s.reported_foreign_holder != pid) {
      s.reported_foreign_holder = pid;
      emit_for(s, EventKind::session_locked_elsewhere,
               holder ? fmt::format("container pid {} of supervisor pid {}", holder->container.pid, holder->supervisor.pid)
                      : "held by a process that runs no container (a maintenance pass?)");
    }
    retry_later(s, std::min<Duration>(options_.sweep_interval, std::chrono::seconds{1}));
  }

  void retry_later(Session& s, Duration after) {
    if (!stopping_) arm_retry(s, after);
  }

  void arm_retry(Session& s, Duration after) {
    s.retry_timer.expires_after(after);
    s.retry_timer.async_wait([weak = weak_from_this(), id = s.id](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->request_check(id);
    });
  }

  // --- a bounded stop (FAILURE-MODES.md 15) ---------------------------------------------------

  void arm_stop_deadline(Duration after) {
    stop_deadline_.expires_after(after);
    stop_deadline_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->stop_deadline_passed_ = true;
      self->maybe_finish_stop();
    });
  }

  // A second stop request: every container is SIGKILLed now, and what has not ended or been
  // cleaned up shortly after is abandoned.
  void force_stop() {
    if (forced_) return;
    forced_ = true;
    for (auto& [id, s] : sessions_) {
      s->kill_timer.cancel();
      if (s->has_container()) signal_container(*s, SIGKILL);
    }
    arm_stop_deadline(kForcedStopGrace);
  }

  // What a session still has to do before the stop is complete, or "" when nothing.
  static std::string unfinished(const Session& s) {
    if (s.has_container()) {
      return s.child ? fmt::format("its container (pid {}) has not ended", s.child->pid())
                     : "the container it adopted has not ended";
    }
    if (s.cleanup_pending) {
      return "the cleanup of its last container is not committed" +
             (s.last_error.empty() ? std::string() : " (" + s.last_error + ")");
    }
    if (s.check_in_flight) return "a check of its files has not returned";
    return {};
  }

  void maybe_finish_stop() {
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
    stop_deadline_.cancel();
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
  std::optional<detail::Instance> instance_;  // this data directory is ours while we live
  std::optional<os::CgroupTree> cgroups_;      // where containers' cgroups go; none: process groups only
  std::optional<os::CgroupEventsWatcher> cgroup_watcher_;  // tells when a container's cgroup empties
  asio::steady_timer stop_deadline_{home_};  // when a stop gives up on what is left
  bool stop_deadline_passed_ = false;
  bool forced_ = false;
  bool stop_finished_ = false;  // its handlers have been called (later ones are called at once)
  bool abandoned_work_ = false;
  std::unique_ptr<runtime::ChildProcess> orphan_stopper_;  // stops docker's orphans before the first sweep
  asio::steady_timer orphan_stop_timer_{home_};
  bool orphan_stop_timed_out_ = false;
  os::ProcessIdentity self_ = os::self_identity();
  std::optional<os::DirectoryWatcher> watcher_;
  bool reported_watch_limit_ = false;
  bool leftovers_checked_ = false;
  std::set<std::string> reported_registry_errors_;
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
bool Supervisor::stop_abandoned_work() const { return impl_->stop_abandoned_work(); }
std::vector<SessionView> Supervisor::sessions() const { return impl_->views(); }
std::size_t Supervisor::pending_work() const { return static_cast<std::size_t>(impl_->jobs_); }
Supervisor::Counters Supervisor::counters() const { return impl_->counters_; }

}  // namespace hostsweep::supervisor
