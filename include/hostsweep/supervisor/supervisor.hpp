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
// Threading: the supervisor's state lives on the executor given to the constructor, which
// must not run handlers concurrently (an io_context run by one thread, or a strand). Every
// public member function may be called from any thread: the ones that change something post
// their work onto that executor (so none of them runs anything, or calls anything back, before
// it returns; start() alone claims the data directory first, where it is called); the queries
// read a snapshot that the executor keeps up to date. SQLite work runs
// on an internal pool, in order per session, and posts its results back; the executor never
// waits on a database or a child process.
//
// Events are delivered on the executor, each through a post: never from inside the call, or
// the handler, that caused them. An event handler may therefore call any member function,
// async_stop() included, or destroy the supervisor (and what owns it): no event is delivered
// after the destructor has begun, save one a handler is already in on the executor's thread
// (so destroy it on the executor, or when the executor no longer runs, if the handler uses what
// the destroying code frees).
//
// Lifetime: async_stop() stops waking, stops every container (SIGTERM, then SIGKILL after the
// kill grace), runs their cleanup and then completes, within kill_grace + stop_timeout whatever
// the files do: a cleanup that keeps failing is retried until then, and what is still undone at
// the deadline is abandoned (one session.error each; the next start finishes it), and the stop
// completes with stop_errc::abandoned_work. A second async_stop(), or the cancellation of a
// pending one, SIGKILLs every container at once and abandons what is still undone shortly
// after. Destroying a supervisor that was not stopped leaves its containers running; the next
// supervisor on the same data directory stops them as orphans.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hostsweep/store/layout.hpp"
#include "hostsweep/supervisor/events.hpp"
#include "hostsweep/supervisor/options.hpp"

namespace hostsweep::supervisor {

// How a stop ended, when not with success (an error_code of stop_category()).
enum class stop_errc {
  // The bounded stop ran out of time (or was forced) with work undone: a container that did
  // not end even after SIGKILL, or a cleanup not committed. Each is said by a session.error;
  // the next start on the data directory finishes it.
  abandoned_work = 1,
};
const boost::system::error_category& stop_category() noexcept;
boost::system::error_code make_error_code(stop_errc e) noexcept;

// paused: an operator paused the session (store::pause_session) and no container of it is
// left; while one is being stopped, it is `stopping` (SessionView::paused tells both).
enum class Phase { idle, running, stopping, backing_off, paused };
const char* to_string(Phase phase) noexcept;

// The timer a session waits on next: what happens when it fires.
enum class DeadlineKind {
  due,         // a message becomes due: a container is started if none runs
  liveness,    // the running container is judged: killed if stuck, stopped if idle
  kill_grace,  // the container being stopped is killed (SIGKILL) if still there
  backoff,     // the start backoff ends
  retry,       // the session is looked at again (a failed check, a lock held elsewhere, a problem to confirm)
};
const char* to_string(DeadlineKind kind) noexcept;

struct SessionView {
  std::string session_id;
  std::string agent_group_id;
  Phase phase = Phase::idle;
  int pid = 0;  // our container's first process (0: none, or an orphan being stopped)
  int start_failures = 0;
  std::optional<TimePoint> backoff_until;
  std::optional<TimePoint> next_due;
  bool watched = false;
  std::string last_error;  // the session's current error ("" when none)
  bool paused = false;     // paused in the registry
  std::optional<TimePoint> container_started;  // when our container started (wall clock), while it lives
  // The earliest timer armed for the session (wall clock; a steady deadline as of when it was
  // armed), and what it does.
  std::optional<TimePoint> next_deadline;
  DeadlineKind next_deadline_kind = DeadlineKind::due;
};

class Supervisor {
 public:
  using EventHandler = std::function<void(const Event&)>;
  using executor_type = boost::asio::any_io_executor;

  // Throws hostsweep::Error(invalid_argument) naming the option when `options` is not valid
  // (an unknown time zone, a duration that must be positive, ...). Nothing runs until start().
  Supervisor(executor_type executor, store::DataDir data, SupervisorOptions options, EventHandler on_event);
  // Any thread (see Threading). Does not stop the containers; a pending stop's handler is
  // destroyed without being called.
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // The executor the supervisor's state and its events live on. Any thread.
  executor_type get_executor() const noexcept;

  // Claims the data directory now, on the calling thread, and throws hostsweep::Error
  // (already_exists) when another supervisor holds it; then, on the executor, loads the
  // registry, watches the sessions and runs the first sweep. Any thread; a second call does
  // nothing.
  void start();

  // Re-checks one session (e.g. after this process enqueued a message for it). A session not
  // known yet is looked for in the registry first (one created since the last reload is
  // picked up and checked); one that is not there either is reported by a session.unknown
  // event naming it. Any thread; posted.
  void request_check(const std::string& session_id);

  // Runs a sweep, as the timer would. Any thread; posted.
  void sweep_now();

  // Reads the registry again now, as a commit to it does when the data directory is watched:
  // sessions created, removed, paused or resumed there are acted on (without checking every
  // session, as a sweep would). Before start(), nothing. Any thread; posted.
  void reload_registry();

  // Stops in stages (see Lifetime) and completes with void(boost::system::error_code): success
  // when everything was stopped and cleaned up, stop_errc::abandoned_work when work had to be
  // abandoned. Works with any completion token (a callback, use_future, use_awaitable,
  // deferred...). The handler is called through its associated executor, never from inside
  // async_stop(). Called again while stopping, it forces the final stage, and both complete;
  // called after a stop has completed, it completes at once (with that stop's result).
  // Cancellation (the handler's cancellation slot; terminal, partial or total alike) forces the
  // final stage too, as a second call would: the operation still completes as above, never
  // with operation_aborted. Any thread; posted.
  template <typename CompletionToken>
  auto async_stop(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [](auto handler, Supervisor* self) { self->initiate_stop(StopHandler(std::move(handler))); }, token, this);
  }

  // After a stop completed: whether it had to abandon work (a cleanup, or a container that
  // did not end even after SIGKILL). Any thread.
  bool stop_abandoned_work() const;

  // The sessions as the executor last left them (a snapshot, in id order). Any thread.
  std::vector<SessionView> sessions() const;

  // Database jobs queued or running (a sweep is done when this is back to 0). Any thread.
  std::size_t pending_work() const;

  // Work done so far, for metrics: an idle supervisor's counters stand still. Any thread.
  struct Counters {
    std::uint64_t checks = 0;            // session checks completed
    std::uint64_t registry_reloads = 0;  // registry reads completed
    std::uint64_t heartbeats = 0;        // heartbeats of running containers looked at (no check each)
  };
  Counters counters() const;

 private:
  using StopHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
  void initiate_stop(StopHandler handler);

  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hostsweep::supervisor

template <>
struct boost::system::is_error_code_enum<hostsweep::supervisor::stop_errc> : std::true_type {};
