#pragma once
// The supervisor: keeps every active session's container alive, honest and working, on an
// executor the caller owns.
//
// Events, with a periodic sweep as the safety net under them:
//  * a container's exit (observed through a pidfd) runs its cleanup at once;
//  * outbound.db commits, heartbeat touches and inbound.db writes by other processes (inotify)
//    re-check their session: acks are synced, the liveness deadline moves;
//  * a deadline timer per session fires when its next message becomes due, and another when
//    its container would become stuck (or, holding no claim with nothing due, idle), so neither
//    waits for the sweep.
//
// Every decision about a session is made by the pure machine of policy/session_machine.hpp;
// this class performs its actions. Time comes from SupervisorOptions::clock (the system's by
// default; a ManualClock in tests): liveness is measured on its steady clock from changes the
// supervisor observed, due times on its wall clock.
//
// Threading: every member function, and every callback, runs on the executor given to the
// constructor; that executor must not run handlers concurrently (an io_context run by one
// thread, or a strand). SQLite work runs on an internal pool, in order per session, and posts
// its results back; the caller's executor never waits on a database or a child process.
//
// Lifetime: async_stop() stops waking, stops every container (SIGTERM, then SIGKILL after the
// kill grace), runs their cleanup and then calls its handler, within kill_grace + stop_timeout
// whatever the files do: a cleanup that keeps failing is retried until then, and what is still
// undone at the deadline is abandoned (one session.error each; the next start finishes it) and
// stop_abandoned_work() says so. A second async_stop() SIGKILLs every container at once and
// abandons what is still undone shortly after. Destroying a supervisor that was not stopped
// leaves its containers running; the next supervisor on the same data directory stops them as
// orphans.

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hostsweep/store/layout.hpp"
#include "hostsweep/supervisor/events.hpp"
#include "hostsweep/supervisor/options.hpp"

namespace hostsweep::supervisor {

enum class Phase { idle, running, stopping, backing_off };
const char* to_string(Phase phase) noexcept;

struct SessionView {
  std::string session_id;
  std::string agent_group_id;
  Phase phase = Phase::idle;
  int pid = 0;
  int start_failures = 0;
  std::optional<TimePoint> backoff_until;
  std::optional<TimePoint> next_due;
  bool watched = false;
  std::string last_error;  // the session's current error ("" when none)
};

class Supervisor {
 public:
  using EventHandler = std::function<void(const Event&)>;

  Supervisor(boost::asio::any_io_executor executor, store::DataDir data, SupervisorOptions options,
             EventHandler on_event);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Loads the registry, watches the sessions and runs the first sweep.
  void start();

  // Re-checks one session now (e.g. after this process enqueued a message for it).
  void request_check(const std::string& session_id);

  // Runs a sweep now, as the timer would.
  void sweep_now();

  // Stops in stages (see above) and then calls `done` on the executor. Called again while
  // stopping, it forces the final stage (and calls this `done` too).
  void async_stop(std::function<void()> done);

  // After the stop completed: whether it had to abandon work (a cleanup, or a container that
  // did not end even after SIGKILL).
  bool stop_abandoned_work() const;

  std::vector<SessionView> sessions() const;

  // Database jobs queued or running (a sweep is done when this is back to 0).
  std::size_t pending_work() const;

  // Work done so far, for metrics: an idle supervisor's counters stand still.
  struct Counters {
    std::uint64_t checks = 0;            // session checks completed
    std::uint64_t registry_reloads = 0;  // registry reads completed
    std::uint64_t heartbeats = 0;        // heartbeats of running containers looked at (no check each)
  };
  Counters counters() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hostsweep::supervisor
