#pragma once
// Internal: the supervisor's implementation. It performs what policy::transition decides: the
// session machine (policy/session_machine.hpp) holds every decision about a session, and this
// class holds the resources (containers, locks, timers, watches) and the I/O. Its member
// functions are defined by concern:
//   supervisor.cpp     lifetime: start, the bounded stop, docker's orphans at start-up
//   session_actions.cpp feeding events to the machine and performing its actions
//   checks.cpp         the checks on the database pool, and the events they report
//   containers.cpp     starting, adopting, signalling and awaiting the end of containers
//   container_output.cpp where a container's stdout and stderr go (container-log)
//   registry_sync.cpp  the registry, the sweep
//   file_events.cpp    inotify on session directories and the registry
//   event_names.cpp    the names of events and stages

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "os/cgroup.hpp"
#include "os/directory_watcher.hpp"
#include "os/holder_record.hpp"
#include "os/process.hpp"
#include "policy/session_machine.hpp"
#include "runtime/child_process.hpp"
#include "runtime/container_output.hpp"
#include "runtime/container_runtime.hpp"
#include "hostsweep/store/registry.hpp"
#include "hostsweep/supervisor/clock.hpp"
#include "hostsweep/supervisor/supervisor.hpp"
#include "instance.hpp"
#include "session_check.hpp"

namespace hostsweep::supervisor {
namespace asio = boost::asio;

using Strand = asio::strand<asio::thread_pool::executor_type>;

Phase phase_of(const policy::SessionState& state) noexcept;
DeadlineKind deadline_kind(policy::Timer timer) noexcept;
EventKind event_kind(policy::Notice notice) noexcept;

// Pool threads run at a lower priority than the caller's (see lower_this_threads_priority).
void lower_this_threads_priority();

// One supervised session: what the machine remembers of it, and what the supervisor holds for
// it. Owned by Supervisor::Impl::sessions_.
struct Session {
  Session(Strand db_strand, store::Session s);

  std::string id;
  std::string agent_group_id;
  store::SessionFiles files;
  Strand db;  // this session's database work runs here, in order

  policy::SessionState state;
  // Events fed while a transition's actions are performed, handled in order after them. A
  // vector, not a deque: an empty deque allocates, and there is one per session.
  std::vector<policy::Event> inbox;
  bool feeding = false;
  bool forgotten = false;  // the machine said Forget: erased once its actions are done
  // Indexed by policy::Timer; each made when first armed (most sessions arm none of them,
  // and at 10,000 sessions the timers were a third of the supervisor's memory).
  std::array<std::unique_ptr<Clock::Timer>, 5> timers;
  // When each armed timer fires (wall clock, as of its arming), for the view; unset when not armed.
  std::array<std::optional<TimePoint>, 5> deadlines;

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
  std::unique_ptr<asio::steady_timer> end_poll;  // polls a cgroup's end where it cannot be watched (real time); made when needed
  std::vector<std::unique_ptr<runtime::ChildProcess>> stoppers;  // the runtime's stop commands running
  std::optional<os::SessionLock> lock;  // held, on our own fd, from start until cleanup is done
  std::uint64_t generation = 0;         // tells stale callbacks from current ones
  TimePoint started_at{};               // wall clock, as recorded for a successor

  // What the last check handed over: the lock for a start or an adoption, and the orphan's
  // record. Released after the check's event unless Spawn or Adopt took it.
  std::optional<os::SessionLock> handed_lock;
  // With a handed-over start: when its scheduled work came due (the latest process_after among
  // the due messages), for container.started's late_by; nullopt when none was scheduled.
  std::optional<TimePoint> start_due_since;
  std::optional<os::HolderRecord> handed_orphan;

  std::shared_ptr<const sweep::PassMemo> memo;  // what the last check read (see sweep::PassMemo)
  bool watched = false;
  std::uint64_t awaited_by_sweep = 0;  // the sweep whose check of this session has not returned yet
  std::string last_os_error;  // a cgroup operation's error, said once
  std::unique_ptr<runtime::ContainerOutput> output;  // the container's stdout and stderr, while it runs
  std::string stderr_tail;  // of the last container that ended (for session.start_failing)

  bool has_container() const { return child || orphan || ending; }
  std::unique_ptr<Clock::Timer>& timer(policy::Timer t) { return timers[static_cast<std::size_t>(t)]; }
  std::optional<TimePoint>& deadline(policy::Timer t) { return deadlines[static_cast<std::size_t>(t)]; }
};

class Supervisor::Impl : public std::enable_shared_from_this<Supervisor::Impl> {
 public:
  using Counters = Supervisor::Counters;
  using StopHandler = Supervisor::StopHandler;
  Impl(asio::any_io_executor executor, store::DataDir data, SupervisorOptions options, EventHandler on_event);
  ~Impl();

  // Any thread: these post onto home_ (start claims the data directory first, where it is called).
  void start();
  void post_sweep();
  void post_reload();
  void post_check(std::string id);
  void post_stop(StopHandler handler);
  // Any thread: no event is delivered once this has returned (save one being delivered).
  void close() { closed_ = true; }
  // Any thread: snapshots.
  bool stop_abandoned_work() const { return abandoned_work_; }
  std::vector<SessionView> views() const;
  int jobs() const { return jobs_; }
  Counters counters() const {
    return {.checks = counters_.checks, .registry_reloads = counters_.registry_reloads, .heartbeats = counters_.heartbeats};
  }
  const asio::any_io_executor& executor() const noexcept { return home_; }

  // On home_.
  void sweep() { reload_registry(true); }
  void request_check(const std::string& id);

 private:
  // --- run on the pool, post the result home ---
  // `work` runs on `where` (a pool strand); `done(Impl&, result)` runs home, if this object
  // still lives. Pool jobs never hold a reference to this object: if they held the last one,
  // ~Impl would join the pool from inside it.
  template <typename Executor, typename Work, typename Done>
  void on_pool(const Executor& where, Work work, Done done) {
    ++jobs_;
    asio::post(where, [weak = weak_from_this(), home = home_, work = std::move(work), done = std::move(done)]() mutable {
      lower_this_threads_priority();
      auto result = work();
      asio::post(home, [weak, done = std::move(done), result = std::move(result)]() mutable {
        auto self = weak.lock();
        if (!self) return;
        --self->jobs_;
        done(*self, std::move(result));
        self->maybe_finish_stop();
      });
    });
  }

  // session_actions.cpp
  void feed(Session& s, policy::Event event);
  void publish(const Session& s);  // its view, for sessions() on any thread
  void deliver_events();
  void perform(Session& s, const policy::Action& action);
  void arm_timer(Session& s, policy::Timer timer, Duration after);
  void on_timer(const std::string& id, policy::Timer timer);
  void emit(Event event);
  void emit_for(const Session& s, EventKind kind, std::string reason = {});
  void emit_notice(const Session& s, const policy::action::Emit& notice);
  Session* find(const std::string& id);
  void forget_session(const std::string& id);

  // checks.cpp
  void run_check(Session& s, const policy::action::RunCheck& run);
  void on_check(const std::string& id, detail::CheckResult result);
  void report(Session& s, const detail::CheckResult& result);

  // containers.cpp
  runtime::ContainerSpec container_spec(const Session& s) const;
  void start_container(Session& s);
  void on_exit(const std::string& id, std::uint64_t generation, runtime::ExitStatus status);
  void on_exit_drained(const std::string& id, std::uint64_t generation, runtime::ExitStatus status);
  std::unique_ptr<runtime::ContainerOutput> open_output(Session& s);  // container_output.cpp
  void adopt_orphan(Session& s, os::SessionLock lock, const os::HolderRecord& record);
  void terminate_container(Session& s);
  void signal_container(Session& s, int signal);
  void run_stopper(Session& s, const std::vector<std::string>& argv);
  void await_end(Session& s);
  void container_ended(Session& s);
  void watch_cgroup(Session& s);
  void unwatch_cgroup(Session& s);
  void on_cgroup_changed(const std::string& id);
  void open_cgroups();
  void kill_unregistered_leftovers();
  template <typename F>
  bool cgroup_step(Session& s, F&& step);

  // registry_sync.cpp
  void check_requested(const std::string& id);
  void resolve_requested_checks(std::uint64_t read, const std::string& why_unknown);
  void reload_registry(bool check_all);
  void on_registry(std::map<std::string, store::Session> listed, std::vector<Error> errors, bool unreadable,
                   bool check_all, std::uint64_t read);
  // One registry listing being reconciled with the sessions, a slice per handler.
  struct RegistryWalk {
    std::map<std::string, store::Session> listed;
    bool check_all = false;
    std::uint64_t generation = 0;  // a newer listing supersedes this one
    std::uint64_t read = 0;        // which registry read it is (see registry_reads_asked_)
  };
  void reconcile_slice(std::shared_ptr<RegistryWalk> walk, std::optional<std::string> after);
  void reconcile_done(std::shared_ptr<RegistryWalk> walk);
  void check_in_slices(std::optional<std::string> after);
  void continue_sweep_later(std::string after);
  void sweep_check_returned(Session& s);
  void maybe_complete_sweep();
  void arm_sweep_timer();

  // file_events.cpp
  void start_watching();
  void watch(Session& s);
  void on_files_changed(const std::string& key, const std::vector<std::string>& names);
  void on_heartbeat(Session& s);
  void on_watch_overflow();

  // supervisor.cpp
  void begin(detail::Instance instance);
  void async_stop(StopHandler handler);
  void on_stop_cancelled();
  bool stop_runtime_orphans();
  void on_runtime_orphans_stopped(runtime::ExitStatus status);
  void arm_stop_deadline(Duration after);
  void force_stop();
  static std::string unfinished(const Session& s);
  void maybe_finish_stop();
  policy::MachineFacts facts() const { return {machine_policy_, stopping_}; }

  asio::any_io_executor home_;
  store::DataDir data_;
  SupervisorOptions options_;
  std::shared_ptr<Clock> clock_;
  policy::MachinePolicy machine_policy_;
  EventHandler on_event_;
  asio::thread_pool pool_;
  Strand registry_strand_;
  // The sweep in progress: sweep.completed is said when the last check it handed out returns
  // (a sweep that a newer one overtakes is not said).
  struct SweepTally {
    std::uint64_t id = 0;
    SteadyTime started{};
    int checked = 0;          // sessions it triggered
    int outstanding = 0;      // its checks that have not returned
    bool handed_out = false;  // every slice dispatched
    bool said = false;
    // Waiting for its checks in the pool to drain below the window, to go on after this id.
    std::optional<std::string> paused_after;
  };
  SweepTally sweep_;
  std::unique_ptr<Clock::Timer> sweep_timer_;
  std::optional<detail::Instance> instance_;  // this data directory is ours while we live
  std::optional<os::CgroupTree> cgroups_;      // where containers' cgroups go; none: process groups only
  std::optional<os::CgroupEventsWatcher> cgroup_watcher_;  // tells when a container's cgroup empties
  std::unique_ptr<Clock::Timer> stop_deadline_;  // when a stop gives up on what is left
  bool stop_deadline_passed_ = false;
  bool forced_ = false;
  bool stop_finished_ = false;  // its handlers have been called (later ones are called at once)
  std::atomic<bool> abandoned_work_{false};
  std::unique_ptr<runtime::ChildProcess> orphan_stopper_;  // stops docker's orphans before the first sweep
  std::unique_ptr<Clock::Timer> orphan_stop_timer_;
  bool orphan_stop_timed_out_ = false;
  os::ProcessIdentity self_ = os::self_identity();
  std::optional<os::DirectoryWatcher> watcher_;
  bool reported_watch_limit_ = false;
  bool leftovers_checked_ = false;
  std::uint64_t registry_generation_ = 0;
  bool walk_check_all_ = false;  // the walk under way, or one it superseded, is a sweep's
  std::set<std::string> reported_registry_errors_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  std::atomic<int> jobs_{0};
  struct AtomicCounters {
    std::atomic<std::uint64_t> checks{0};
    std::atomic<std::uint64_t> registry_reloads{0};
    std::atomic<std::uint64_t> heartbeats{0};
  };
  AtomicCounters counters_;
  std::atomic<bool> started_{false};
  bool stopping_ = false;
  // Each pending stop's handler, and its executor kept busy until the handler has run there.
  struct PendingStop {
    StopHandler handler;
    asio::any_completion_executor work;
  };
  std::vector<PendingStop> stop_handlers_;
  // Events wait here for one posted handler to deliver them (never inside the call that caused
  // them); closed_ (the Supervisor is being destroyed) drops the rest.
  std::vector<Event> pending_events_;
  std::atomic<bool> closed_{false};
  // request_check() ids not known when asked, each with the registry read that will answer it.
  std::vector<std::pair<std::string, std::uint64_t>> requested_unknown_;
  std::uint64_t registry_reads_asked_ = 0;  // registry reads asked for (they complete in order)
  // A registry read is queued on the pool and has not begun (shared: the pool job clears it).
  std::shared_ptr<std::atomic<bool>> registry_read_queued_ = std::make_shared<std::atomic<bool>>(false);
  // What sessions() returns, kept by publish() as the sessions change.
  mutable std::mutex views_mutex_;
  std::map<std::string, SessionView> views_;
};

}  // namespace hostsweep::supervisor
