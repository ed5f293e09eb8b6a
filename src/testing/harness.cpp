#include "hostsweep/testing/harness.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <fstream>

#include "hostsweep/error.hpp"
#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::testing {

using namespace std::chrono_literals;
using supervisor::Event;
using supervisor::EventKind;

supervisor::SupervisorOptions fast_options(const std::filesystem::path& fake_agent) {
  supervisor::SupervisorOptions o;
  o.runtime.agent_command = {fake_agent.string(), "--session-dir", "{session_dir}", "--poll-interval", "10ms",
                             "--work-time", "30ms", "--heartbeat-interval", "20ms"};
  o.sweep_interval = 1h;  // events must do the work; the sweep is only a net
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

void write_fake_agent_script(const store::SessionFiles& files, const std::vector<std::string>& script) {
  auto path = files.dir() / ".fake-agent";
  std::ofstream out(path, std::ios::trunc);
  for (const auto& line : script) out << line << '\n';
  out.close();
  if (!out) throw Error(Errc::io_error, "cannot write the fake agent's script " + path.string());
}

Harness::Harness(supervisor::SupervisorOptions options)
    : Harness(std::move(options), std::make_unique<boost::asio::io_context>(), nullptr) {}

Harness::Harness(supervisor::SupervisorOptions options, boost::asio::io_context& io)
    : Harness(std::move(options), nullptr, &io) {}

Harness::Harness(supervisor::SupervisorOptions options, std::unique_ptr<boost::asio::io_context> owned,
                 boost::asio::io_context* io)
    : data_(tmp_.path() / "data"),
      options_(std::move(options)),
      owned_io_(std::move(owned)),
      io_(owned_io_ ? owned_io_.get() : io) {}

Harness::~Harness() {
  if (!supervisor_) return;
  try {
    stop();
  } catch (...) {
    // A destructor must not throw; the supervisor is destroyed by stop() in any case.
  }
}

supervisor::Supervisor& Harness::supervisor() {
  if (!supervisor_) fail("the harness's supervisor is used before start() or after stop()");
  return *supervisor_;
}

supervisor::ManualClock& Harness::use_manual_clock(TimePoint start) {
  if (supervisor_) fail("use_manual_clock() after start(): the supervisor keeps the clock it started with");
  manual_clock_ = std::make_shared<supervisor::ManualClock>(start);
  options_.clock = manual_clock_;
  return *manual_clock_;
}

void Harness::advance(Duration d) {
  if (!manual_clock_) fail("advance() without use_manual_clock()");
  if (!settle()) fail("the supervisor did not settle before the clock was moved");
  manual_clock_->advance(d);
  if (!settle()) fail("the supervisor did not settle after the clock moved by " + policy::format_duration(d));
}

store::Session Harness::create_session(const std::string& id, const std::vector<std::string>& script,
                                       const std::string& agent_group) {
  auto session = store::create_session(data_, agent_group, id, policy::now_utc());
  write_fake_agent_script(session.files, script);
  sessions_.insert_or_assign(id, session.files);
  return session;
}

const store::SessionFiles& Harness::files(const std::string& session) const {
  auto found = sessions_.find(session);
  if (found == sessions_.end()) fail("no session \"" + session + "\" was made by create_session()");
  return found->second;
}

std::string Harness::enqueue(const std::string& session, store::NewMessage message) {
  if (message.content.empty()) message.content = R"({"text":"hi"})";
  return store::enqueue(files(session), message, policy::now_utc()).id;
}

std::optional<store::MessageInfo> Harness::find_message(const std::string& session, const std::string& id) {
  return store::find_message(files(session), id);
}

void Harness::start() {
  if (supervisor_) fail("start() twice");
  supervisor_ = std::make_unique<supervisor::Supervisor>(io_->get_executor(), data_, options_, [this](const Event& e) {
    events_.push_back(e);
    if (handler_) handler_(e);
  });
  supervisor_->start();
}

boost::system::error_code Harness::stop(Milliseconds timeout) {
  if (!supervisor_) fail("stop() without a running supervisor");
  auto result = std::make_shared<std::optional<boost::system::error_code>>();
  supervisor_->async_stop([result](boost::system::error_code ec) { *result = ec; });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // On a simulated clock the stop's kill grace and deadline wait for time to move.
  while (!result->has_value() && std::chrono::steady_clock::now() < deadline) {
    if (run_until([&] { return result->has_value(); }, manual_clock_ ? Milliseconds{200} : timeout)) break;
    if (manual_clock_) manual_clock_->advance(options_.kill_grace);
  }
  bool abandoned = supervisor_->stop_abandoned_work();
  supervisor_.reset();
  io_->restart();
  io_->poll();
  if (!result->has_value()) {
    fail("the supervisor's stop did not complete within " + policy::format_duration(timeout));
  }
  stop_result_ = **result;
  if (abandoned != (stop_result_ == supervisor::stop_errc::abandoned_work)) {
    fail("the stop's result (" + stop_result_.message() + ") and stop_abandoned_work() (" +
         (abandoned ? "true" : "false") + ") disagree");
  }
  return stop_result_;
}

void Harness::abandon() {
  supervisor_.reset();
  io_->restart();
  io_->poll();
}

bool Harness::run_until(const std::function<bool()>& done, Milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io_->restart();
    io_->run_for(5ms);
  }
  // Events are delivered through a post, so one emitted before what `done` saw in the files
  // may still be queued: run the loop up to a marker posted behind it (not poll(), which a
  // handler that posts itself again would never let return).
  bool reached = false;
  boost::asio::post(*io_, [&reached] { reached = true; });
  io_->restart();
  while (!reached) io_->run_one();
  return true;
}

void Harness::wait_until(const std::function<bool()>& done, const std::string& what, Milliseconds timeout) {
  if (!run_until(done, timeout)) fail(what + ": still not so after " + policy::format_duration(timeout));
}

Event Harness::wait_for(EventKind kind, const std::string& session, Milliseconds timeout) {
  auto& next = next_unseen_[{kind, session}];
  auto matches = [&](const Event& e) { return e.kind == kind && (session.empty() || e.session_id == session); };
  std::optional<std::size_t> found;
  auto seen = [&] {
    for (auto i = next; i < events_.size(); ++i) {
      if (matches(events_[i])) {
        found = i;
        return true;
      }
    }
    return false;
  };
  std::string what = std::string("the event ") + supervisor::event_name(kind) + (session.empty() ? "" : " of " + session);
  wait_until(seen, what, timeout);
  next = *found + 1;
  return events_[*found];
}

store::MessageInfo Harness::wait_for_message(const std::string& session, const std::string& id,
                                             const std::string& status, Milliseconds timeout) {
  std::optional<store::MessageInfo> last;
  bool reached = run_until(
      [&] {
        last = find_message(session, id);
        return last && last->status == status;
      },
      timeout);
  if (!reached) {
    fail("message " + id + " of " + session + " is " + (last ? last->status : "absent") + ", not " + status +
         ", after " + policy::format_duration(timeout));
  }
  return *last;
}

bool Harness::settle(Milliseconds timeout) {
  if (!supervisor_) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int quiet = 0;
  while (quiet < 2) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io_->restart();
    io_->run_for(100ms);
    quiet = supervisor_->pending_work() == 0 ? quiet + 1 : 0;
  }
  return true;
}

int Harness::count(EventKind kind, const std::string& session) const {
  return static_cast<int>(std::count_if(events_.begin(), events_.end(), [&](const Event& e) {
    return e.kind == kind && (session.empty() || e.session_id == session);
  }));
}

std::vector<Event> Harness::of(EventKind kind) const {
  std::vector<Event> out;
  std::copy_if(events_.begin(), events_.end(), std::back_inserter(out), [&](const Event& e) { return e.kind == kind; });
  return out;
}

std::string Harness::story() const {
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

void Harness::fail(const std::string& what) const {
  throw Failure(what + "\nevents so far:\n" + (events_.empty() ? std::string("(none)\n") : story()));
}

}  // namespace hostsweep::testing
