#pragma once
// The test kit (hostsweep::testing, the library hostsweep::testing): a Supervisor on a private
// data directory, with real fake-agent containers scripted per session and every duration
// scaled down, driven by an io_context the test runs. For GoogleTest or any other framework:
// nothing here depends on one. A wait that runs out, or a stop that does not complete, throws
// testing::Failure with what was awaited and every event so far; a framework reports the
// uncaught exception as the test's failure (GoogleTest: "C++ exception ... thrown in the test
// body"). The [[nodiscard]] bool forms are for a test that asserts for itself.
//
//   hostsweep::testing::Harness h(hostsweep::testing::fast_options(FAKE_AGENT));
//   h.create_session("s1", {"crash-after-claim", "normal"});  // the first container crashes
//   h.start();
//   auto id = h.enqueue("s1");
//   h.wait_for(EventKind::message_retried, "s1");
//   h.wait_for_message("s1", id, "completed");
//   h.stop();
//
// Waits are for events and files, with generous timeouts; nothing in the kit measures how long
// anything took. Time itself is simulated with use_manual_clock() and advance(): a 30-minute
// liveness ceiling passes in milliseconds, and every instant is exact.
//
// Thread-safety: a Harness belongs to the thread of the test; it runs its io_context on that
// thread only while it waits (run_until, wait_*, settle, advance, stop).

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hostsweep/store/layout.hpp"
#include "hostsweep/store/messages.hpp"
#include "hostsweep/store/registry.hpp"
#include "hostsweep/supervisor/clock.hpp"
#include "hostsweep/supervisor/supervisor.hpp"
#include "hostsweep/testing/temp_dir.hpp"

namespace hostsweep::testing {

// A wait that ran out, a stop that did not complete, a harness used out of order.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options for tests: containers are the fake agent at `fake_agent` (find it with
// $<TARGET_FILE:hostsweep::fake_agent>), polling every 10 ms and working 30 ms per message;
// liveness windows, graces and backoffs in tenths of seconds; the periodic sweep hourly, so
// that the events must do the work. Change any of them before the harness starts.
supervisor::SupervisorOptions fast_options(const std::filesystem::path& fake_agent);

// Writes the session's fake-agent script (docs/FAKE-AGENT.md): one behaviour per container
// start ("normal", "crash-after-claim", "hang", "exit-at-once", ...), the last repeating.
void write_fake_agent_script(const store::SessionFiles& files, const std::vector<std::string>& script);

class Harness {
 public:
  using Milliseconds = std::chrono::milliseconds;
  static constexpr Milliseconds kDefaultTimeout{15'000};
  static constexpr Milliseconds kDefaultStopTimeout{20'000};

  // A data directory in a fresh TempDir and a supervisor over it, on a private io_context...
  explicit Harness(supervisor::SupervisorOptions options);
  // ...or on `io`, which the harness then runs while it waits (no other thread may run it).
  Harness(supervisor::SupervisorOptions options, boost::asio::io_context& io);
  // Stops a supervisor still running (bounded by kDefaultStopTimeout; never throws).
  virtual ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  const std::filesystem::path& root() const noexcept { return tmp_.path(); }  // the TempDir
  store::DataDir& data() noexcept { return data_; }
  boost::asio::io_context& io() noexcept { return *io_; }
  supervisor::SupervisorOptions& options() noexcept { return options_; }  // read at start()
  supervisor::Supervisor& supervisor();  // between start() and stop(); throws Failure otherwise
  bool running() const noexcept { return supervisor_ != nullptr; }

  // Simulated time: a ManualClock from `start`, put in options().clock (before start()).
  supervisor::ManualClock& use_manual_clock(TimePoint start);
  // settle(), move the manual clock by `d`, settle() again: the supervisor has then acted on
  // the new time. Throws Failure without a manual clock, or when it does not settle.
  void advance(Duration d);

  // A session of agent group `agent_group` whose containers behave as `script` says.
  store::Session create_session(const std::string& id, const std::vector<std::string>& script = {"normal"},
                                const std::string& agent_group = "group");
  // A session's files (one create_session made). Throws Failure for any other id.
  const store::SessionFiles& files(const std::string& session) const;
  // Enqueues `message` (content {"text":"hi"} when empty), now; returns its id.
  std::string enqueue(const std::string& session, store::NewMessage message = {});
  std::optional<store::MessageInfo> find_message(const std::string& session, const std::string& id);

  // Constructs the supervisor (every event is recorded, then passed to on_event's handler)
  // and starts it.
  void start();
  // Stops it and runs the loop until the stop completes: its result (success, or
  // stop_errc::abandoned_work). A stop that does not complete within `timeout` throws Failure
  // (the supervisor is destroyed all the same). On a manual clock, time moves by the kill
  // grace while the stop waits for its containers.
  boost::system::error_code stop(Milliseconds timeout = kDefaultStopTimeout);
  // As if the supervisor's process were SIGKILLed: destroyed without stopping anything; its
  // containers run on, and their holder records stay behind for the next supervisor.
  void abandon();
  // What the last stop() returned.
  boost::system::error_code stop_result() const noexcept { return stop_result_; }

  // Runs the loop until `done` holds (true) or `timeout` passes (false). Events posted before
  // `done` held are delivered before it returns.
  [[nodiscard]] bool run_until(const std::function<bool()>& done, Milliseconds timeout = kDefaultTimeout);
  // run_until, or throws Failure saying "<what>" and the story so far.
  void wait_until(const std::function<bool()>& done, const std::string& what, Milliseconds timeout = kDefaultTimeout);
  // The next event of `kind` (for `session`, or any when empty) after the one the previous
  // wait_for(kind, session) returned: called twice, it waits for two. Throws Failure on timeout.
  supervisor::Event wait_for(supervisor::EventKind kind, const std::string& session = {},
                             Milliseconds timeout = kDefaultTimeout);
  // Waits until message `id` has `status` ("completed", ...); returns it. Throws Failure.
  store::MessageInfo wait_for_message(const std::string& session, const std::string& id, const std::string& status,
                                      Milliseconds timeout = kDefaultTimeout);
  // Runs the loop until the supervisor is quiet: no database work queued or running, twice in a
  // row 100 ms apart (so that file events already written have arrived and been handled).
  // false when it is still busy after `timeout`.
  [[nodiscard]] bool settle(Milliseconds timeout = kDefaultTimeout);

  // Called (on the loop, after the event is recorded) for every event; may use the supervisor.
  void on_event(std::function<void(const supervisor::Event&)> handler) { handler_ = std::move(handler); }
  const std::vector<supervisor::Event>& events() const noexcept { return events_; }
  int count(supervisor::EventKind kind, const std::string& session = {}) const;
  std::vector<supervisor::Event> of(supervisor::EventKind kind) const;
  // "container.started s1\nmessage.completed s1 m1\n...": for failure messages.
  std::string story() const;

 private:
  Harness(supervisor::SupervisorOptions options, std::unique_ptr<boost::asio::io_context> owned,
          boost::asio::io_context* io);
  [[noreturn]] void fail(const std::string& what) const;

  TempDir tmp_;
  store::DataDir data_;
  supervisor::SupervisorOptions options_;
  std::unique_ptr<boost::asio::io_context> owned_io_;
  boost::asio::io_context* io_;
  std::shared_ptr<supervisor::ManualClock> manual_clock_;
  std::unique_ptr<supervisor::Supervisor> supervisor_;
  std::function<void(const supervisor::Event&)> handler_;
  std::vector<supervisor::Event> events_;
  std::map<std::pair<supervisor::EventKind, std::string>, std::size_t> next_unseen_;  // wait_for's
  std::map<std::string, store::SessionFiles> sessions_;
  boost::system::error_code stop_result_;
};

}  // namespace hostsweep::testing
