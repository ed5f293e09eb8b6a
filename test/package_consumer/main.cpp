// Uses the installed library as an embedding application would: creates a session, enqueues a
// message, then runs a Supervisor with the installed fake agent (hostsweep::fake_agent) until the
// message has completed, and stops it. Fails (exit status 1, and says why) when the message is
// not due, when it has not completed within a minute, or when the stop does not succeed.
#include <hostsweep/store/messages.hpp>
#include <hostsweep/store/registry.hpp>
#include <hostsweep/supervisor/supervisor.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

namespace {

// The message's wait: generous (a container starts, polls and replies in well under a second),
// and a wait that runs out fails the program.
constexpr auto kCompletionTimeout = std::chrono::seconds{60};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  hostsweep::store::DataDir data{std::filesystem::path(argv[1])};
  auto now = hostsweep::policy::now_utc();
  auto session = hostsweep::store::create_session(data, "embedded", std::string("consumer"), now);
  auto message = hostsweep::store::enqueue(session.files, {.content = "from an embedding application"}, now);
  auto due = hostsweep::store::summarize_inbound(session.files, now).due_ids.size();
  std::printf("due=%zu\n", due);
  if (due != 1) return 1;

  const char* agent = HOSTSWEEP_FAKE_AGENT;  // $<TARGET_FILE:hostsweep::fake_agent>, installed

  // README.md's "Embedding" snippet is this code, from here to the matching comment below, so
  // that it is compiled and run against the installed tree. Change the two together.
  // --- begin README snippet ---
  // data: a hostsweep::store::DataDir; agent: the agent program (here the fake agent)
  boost::asio::io_context io;  // yours; run by one thread (or give a strand)
  bool completed = false;
  std::optional<boost::system::error_code> stopped;
  hostsweep::supervisor::SupervisorOptions options;
  options.runtime.agent_command = {agent, "--session-dir", "{session_dir}"};
  // Events arrive on the executor through a post, never from inside a call: the handler may
  // call the supervisor, async_stop() included (or even destroy it).
  hostsweep::supervisor::Supervisor supervisor(
      io.get_executor(), data, options, [&](const hostsweep::supervisor::Event& e) {
        std::cout << hostsweep::supervisor::event_name(e.kind) << ' ' << e.session_id << std::endl;
        if (e.kind != hostsweep::supervisor::EventKind::message_completed || completed) return;
        completed = true;
        // Any completion token: a callback, use_future, use_awaitable, deferred...
        supervisor.async_stop([&](boost::system::error_code ec) {
          // success: every container stopped and cleaned up; stop_errc::abandoned_work: some
          // of it is left for the next start (each said by a session.error event)
          stopped = ec;
        });
      });
  supervisor.start();
  // --- end README snippet ---

  boost::asio::steady_timer timeout(io, kCompletionTimeout);
  timeout.async_wait([&](boost::system::error_code ec) {
    if (ec || completed) return;
    std::cerr << "FAILED: message " << message.id << " did not complete within " << kCompletionTimeout.count()
              << " s\n";
    supervisor.async_stop([&](boost::system::error_code stop_ec) { stopped = stop_ec; });
  });
  // The loop runs until the stop has completed; then only the timeout is left, and it goes.
  while (!stopped && io.run_one() > 0) {
  }
  timeout.cancel();
  io.run();

  if (!stopped) {
    std::cerr << "FAILED: the loop ran out of work before the stop completed\n";
    return 1;
  }
  if (*stopped) {
    std::cerr << "FAILED: the stop completed with " << stopped->message() << '\n';
    return 1;
  }
  std::cout << "completed=" << completed << " stopped=success" << std::endl;
  return completed ? 0 : 1;
}
