#pragma once
// A supervisor on a real data directory with real fake-agent containers and every duration
// scaled down, driven by an io_context the test runs. Waits are for events, with generous
// timeouts; nothing asserts a wall-clock bound.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hostsweep/store/inbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "hostsweep/supervisor/supervisor.hpp"
#include "support/temp_dir.hpp"

namespace hostsweep::testing {

using namespace std::chrono_literals;

inline supervisor::SupervisorOptions fast_options() {
  supervisor::SupervisorOptions o;
  o.runtime.agent_command = {HOSTSWEEP_FAKE_AGENT_PATH, "--session-dir", "{session_dir}", "--poll-interval", "10ms",
                             "--work-time", "30ms", "--heartbeat-interval", "20ms"};
  o.sweep_interval = std::chrono::hours{1};  // events must do the work; the sweep is only a net
  o.policy.stuck.ceiling = 20s;
  o.policy.stuck.claim_tolerance = 400ms;
  o.policy.stuck.startup_grace = 400ms;
  o.policy.stuck.max_declared_timeout = 10s;
  o.policy.retry.backoff_base = 100ms;
  o.policy.retry.backoff_cap = 1s;
  o.kill_grace = 300ms;
  o.start_backoff.base = 50ms;
  o.start_backoff.cap = 400ms;
  o.start_backoff.reset_after = 5s;
  return o;
}

class SupervisorHarness {
 public:
  explicit SupervisorHarness(supervisor::SupervisorOptions options = fast_options()) : options_(std::move(options)) {}

  ~SupervisorHarness() {
    if (supervisor_) stop();
  }

  store::DataDir& data() { return data_; }
  boost::asio::io_context& io() { return io_; }
  supervisor::SupervisorOptions& options() { return options_; }
  supervisor::Supervisor& supervisor() { return *supervisor_; }

  // A session whose containers behave as `script` says, one line per start (the last repeats).
  store::Session create_session(const std::string& id, const std::vector<std::string>& script = {"normal"}) {
    auto session = store::create_session(data_, "group", id, policy::now_utc());
    std::ofstream out(session.files.dir() / ".fake-agent");
    for (const auto& line : script) out << line << '\n';
    sessions_[id] = session.files;
    return session;
  }

  store::SessionFiles files(const std::string& id) { return sessions_.at(id); }

  std::string enqueue(const std::string& session, store::NewMessage message = {.content = "{\"text\":\"hi\"}"}) {
    if (message.content.empty()) message.content = "{\"text\":\"hi\"}";
    return store::enqueue(files(session), message, policy::now_utc()).id;
  }

  void start() {
    supervisor_ = std::make_unique<supervisor::Supervisor>(io_.get_executor(), data_, options_,
                                                           [this](const supervisor::Event& e) { events_.push_back(e); });
    supervisor_->start();
  }

  // Stops the supervisor and waits for the stop to complete; a stop that does not complete
  // within `timeout` fails the test (and the supervisor is destroyed all the same).
  void stop(std::chrono::milliseconds timeout = 20s) {
    auto result = std::make_shared<std::optional<boost::system::error_code>>();
    supervisor_->async_stop([result](boost::system::error_code ec) { *result = ec; });
    if (!wait_for([&] { return result->has_value(); }, timeout)) {
      ADD_FAILURE() << "the supervisor's stop did not complete within " << timeout.count() << " ms\n" << story();
    }
    stop_result_ = result->value_or(boost::system::error_code{});
    stopped_with_abandoned_work_ = supervisor_->stop_abandoned_work();
    EXPECT_EQ(stopped_with_abandoned_work_, stop_result_ == supervisor::stop_errc::abandoned_work)
        << "the stop's result (" << stop_result_.message() << ") and stop_abandoned_work() disagree";
    supervisor_.reset();
    io_.restart();
    io_.poll();
  }

  // What the last stop() said: whether it had to abandon work, and its error_code.
  bool supervisor_stopped_with_abandoned_work() const { return stopped_with_abandoned_work_; }
  boost::system::error_code stop_result() const { return stop_result_; }

  // As if the supervisor's process were SIGKILLed: it goes without stopping anything; its
  // containers run on, their session locks are released with its descriptors, and their holder
  // records stay behind for the next supervisor.
  void abandon() {
    supervisor_.reset();
    io_.restart();
    io_.poll();
  }

  // Runs the loop until `done` holds or `timeout` passes; returns whether it held. Events are
  // delivered through a post, so one emitted before what `done` saw in the files (a start,
  // before the container's claim) may still be queued: it is delivered before returning, by
  // running the loop up to a marker posted behind it (not poll(), which a handler that posts
  // itself again would never let return).
  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 15s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.restart();
      io_.run_for(5ms);
    }
    bool reached = false;
    boost::asio::post(io_, [&reached] { reached = true; });
    io_.restart();
    while (!reached) io_.run_one();
    return true;
  }

  // Runs the loop until the supervisor is quiet: no database work queued or running, twice in a
  // row a little apart (so that file events already written have arrived and been handled).
  // On a simulated clock, call it before moving time, so that what the containers did is seen
  // at the instant the test means.
  bool settle(std::chrono::milliseconds timeout = 15s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int quiet = 0;
    while (quiet < 2) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.restart();
      io_.run_for(100ms);
      quiet = supervisor_->pending_work() == 0 ? quiet + 1 : 0;
    }
    return true;
  }

  const std::vector<supervisor::Event>& events() const { return events_; }

  int count(supervisor::EventKind kind, const std::string& session = {}) const {
    return static_cast<int>(std::count_if(events_.begin(), events_.end(), [&](const auto& e) {
      return e.kind == kind && (session.empty() || e.session_id == session);
    }));
  }

  std::vector<supervisor::Event> of(supervisor::EventKind kind) const {
    std::vector<supervisor::Event> out;
    for (const auto& e : events_) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

  policy::MessageState message(const std::string& session, const std::string& id) {
    auto states = store::read_message_states(files(session), {id});
    return states.count(id) ? states.at(id) : policy::MessageState{id, policy::MessageStatus::unknown, 0, std::nullopt};
  }

  bool wait_for_status(const std::string& session, const std::string& id, const std::string& status,
                       std::chrono::milliseconds timeout = 15s) {
    return wait_for([&] { return policy::to_string(message(session, id).status) == status; }, timeout);
  }

  // "container.started s1, message.completed s1 m1, ..." for failure messages.
  std::string story() const {
    std::string out;
    for (const auto& e : events_) {
      out += std::string(supervisor::event_name(e.kind)) + " " + e.session_id;
      if (!e.message_id.empty()) out += " " + e.message_id;
      if (!e.reason.empty()) out += " (" + e.reason + ")";
      if (e.exit) out += " [" + e.exit->describe() + "]";
      out += "\n";
    }
    return out;
  }

 private:
  TempDir tmp_;
  store::DataDir data_{tmp_.path() / "data"};
  supervisor::SupervisorOptions options_;
  boost::asio::io_context io_;
  std::unique_ptr<supervisor::Supervisor> supervisor_;
  std::vector<supervisor::Event> events_;
  bool stopped_with_abandoned_work_ = false;
  boost::system::error_code stop_result_;
  std::map<std::string, store::SessionFiles> sessions_;
};

// The story every runtime must tell: a container dies holding its claim, and the message is
// retried once and completed by the next container. Returns how the first container ended.
inline std::optional<runtime::ExitStatus> expect_crash_is_retried_and_completed(SupervisorHarness& h) {
  using supervisor::EventKind;
  h.create_session("s1", {"crash-after-claim", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  EXPECT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  EXPECT_EQ(h.message("s1", id).tries, 1);
  EXPECT_EQ(h.count(EventKind::message_retried, "s1"), 1) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 2) << h.story();
  auto exited = h.of(EventKind::container_exited);
  if (exited.empty()) {
    ADD_FAILURE() << "no container exited\n" << h.story();
    return std::nullopt;
  }
  return exited.front().exit;
}

}  // namespace hostsweep::testing
