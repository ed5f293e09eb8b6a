// The supervisor inside an Asio program that has work of its own, everything on one io_context
// run by one thread: a timer that ticks and reports the sessions, a tiny TCP status endpoint on
// 127.0.0.1 (an ephemeral port; `nc 127.0.0.1 PORT` prints the sessions), and the supervisor
// running hostsweep-fake-agent containers. SIGINT or SIGTERM stops it in stages; a second
// signal cancels the stop, which forces its final stage (SIGKILL).
//
//   hostsweep-embed-example DATA_DIR [--agent PATH] [--exit-after-first-completion]
//
// It creates a session in DATA_DIR (and DATA_DIR itself when missing), enqueues one message at
// the first tick and prints every event. With --exit-after-first-completion it stops itself
// from inside the event handler once that message has completed (the test suite runs it so),
// and fails when the message has not completed within a minute.
#include <hostsweep/store/messages.hpp>
#include <hostsweep/store/registry.hpp>
#include <hostsweep/supervisor/supervisor.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <csignal>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using hostsweep::supervisor::Event;
using hostsweep::supervisor::EventKind;
using hostsweep::supervisor::Supervisor;
using namespace std::chrono_literals;

struct Args {
  std::string data_dir;
  std::string agent = HOSTSWEEP_EXAMPLE_FAKE_AGENT;  // the build's (or the installed) fake agent
  bool exit_after_first_completion = false;
};

std::optional<Args> parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--exit-after-first-completion") args.exit_after_first_completion = true;
    else if (arg == "--agent" && i + 1 < argc) args.agent = argv[++i];
    else if (!arg.starts_with("-") && args.data_dir.empty()) args.data_dir = arg;
    else return std::nullopt;
  }
  if (args.data_dir.empty()) return std::nullopt;
  return args;
}

hostsweep::supervisor::SupervisorOptions options_for(const Args& args) {
  hostsweep::supervisor::SupervisorOptions options;
  // The fake agent polls its inbound.db every 200 ms (1 s by default), so the demo is brisk.
  options.runtime.agent_command = {args.agent, "--session-dir", "{session_dir}", "--poll-interval", "200ms"};
  return options;
}

std::string describe(const Event& e) {
  std::ostringstream out;
  out << hostsweep::supervisor::event_name(e.kind);
  if (!e.session_id.empty()) out << " session=" << e.session_id;
  if (!e.message_id.empty()) out << " message=" << e.message_id;
  if (e.pid) out << " pid=" << e.pid;
  if (e.exit) out << " exit=\"" << e.exit->describe() << '"';
  if (!e.reason.empty()) out << " reason=\"" << e.reason << '"';
  if (!e.detail.empty()) out << " detail=\"" << e.detail << '"';
  return out.str();
}

class App {
 public:
  App(asio::io_context& io, Args args)
      : args_(std::move(args)),
        data_(args_.data_dir),
        // A fresh session each run (its id generated), so the example may run again on a data dir.
        session_(hostsweep::store::create_session(data_, "example", std::nullopt, hostsweep::policy::now_utc())),
        ticker_(io),
        deadline_(io),
        signals_(io, SIGINT, SIGTERM),
        acceptor_(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
        // Events come through a post, never from inside the constructor or start(): the handler
        // may use every member, and call the supervisor itself (async_stop included).
        supervisor_(io.get_executor(), data_, options_for(args_), [this](const Event& e) { on_event(e); }) {}

  void start() {
    say("session " + session_.record.id + "; status on 127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()));
    supervisor_.start();  // throws when another supervisor holds the data directory
    wait_for_signal();
    tick();
    accept_next();
    if (args_.exit_after_first_completion) {
      deadline_.expires_after(60s);
      deadline_.async_wait([this](error_code ec) {
        if (ec) return;  // cancelled: the message completed, or a signal came first
        say("FAILED: the message did not complete within 60 s");
        failed_ = true;
        stop("deadline");
      });
    }
  }

  int exit_status() const {
    if (failed_ || !stop_result_ || *stop_result_) return 1;
    if (args_.exit_after_first_completion && !completed_) return 1;
    return 0;
  }

 private:
  static void say(const std::string& line) { std::cout << line << std::endl; }

  // The program's own work: a tick every second reporting what the supervisor's snapshot says.
  // The first one enqueues the message, so the loop has ticked before any container runs.
  void tick() {
    ticker_.expires_after(1s);
    ticker_.async_wait([this](error_code ec) {
      if (ec) return;  // operation_aborted: stopping
      ++ticks_;
      say("tick " + std::to_string(ticks_) + ": " + status_line());
      if (ticks_ == 1) enqueue();
      tick();
    });
  }

  void enqueue() {
    message_id_ = hostsweep::store::enqueue(session_.files, {.content = R"({"text":"hello from the example"})"},
                                            hostsweep::policy::now_utc())
                      .id;
    say("enqueued " + message_id_);
    // inotify would see the commit too; this says it at once.
    supervisor_.request_check(session_.record.id);
  }

  void on_event(const Event& e) {
    say(describe(e));
    if (e.kind == EventKind::message_completed && e.message_id == message_id_) {
      completed_ = true;
      say("the message completed after " + std::to_string(ticks_) + " ticks");
      if (args_.exit_after_first_completion) stop("the message completed");
    }
  }

  void wait_for_signal() {
    signals_.async_wait([this](error_code ec, int signo) {
      if (ec) return;  // cancelled once the stop completed
      if (!stopping_) {
        stop(signo == SIGINT ? "SIGINT" : "SIGTERM");
      } else {
        say("second signal: forcing the stop's final stage");
        force_stop_.emit(asio::cancellation_type::terminal);
      }
      wait_for_signal();
    });
  }

  // Our own work first (no new ticks, no new connections), then the supervisor's bounded stop.
  void stop(const std::string& why) {
    if (stopping_) return;
    stopping_ = true;
    say("stopping (" + why + ")");
    ticker_.cancel();
    deadline_.cancel();
    error_code ignored;
    acceptor_.close(ignored);
    supervisor_.async_stop(asio::bind_cancellation_slot(force_stop_.slot(), [this](error_code ec) {
      // success: every container stopped and its cleanup committed; stop_errc::abandoned_work:
      // some of it is left to the next start on the data directory (each said by a session.error).
      stop_result_ = ec;
      say("stopped: " + (ec ? ec.message() : std::string("success")));
      signals_.cancel();  // nothing is left on the loop: io.run() returns
    }));
  }

  void accept_next() {
    acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec) return;  // operation_aborted: closed by the stop
      // Write the snapshot and close: the reply fits in the socket's buffer, so no client holds us.
      auto peer = std::make_shared<tcp::socket>(std::move(socket));
      auto text = std::make_shared<std::string>(status_line() + "\n");
      asio::async_write(*peer, asio::buffer(*text), [peer, text](error_code, std::size_t) {});
      accept_next();
    });
  }

  std::string status_line() const {
    std::string out;
    for (const auto& s : supervisor_.sessions()) {
      out += s.session_id + " " + hostsweep::supervisor::to_string(s.phase);
      if (s.pid) out += " pid " + std::to_string(s.pid);
      out += "; ";
    }
    return out + std::to_string(supervisor_.pending_work()) + " database jobs";
  }

  Args args_;
  hostsweep::store::DataDir data_;
  hostsweep::store::Session session_;
  asio::steady_timer ticker_;
  asio::steady_timer deadline_;
  asio::signal_set signals_;
  tcp::acceptor acceptor_;
  asio::cancellation_signal force_stop_;
  std::string message_id_;
  int ticks_ = 0;
  bool completed_ = false;
  bool stopping_ = false;
  bool failed_ = false;
  std::optional<error_code> stop_result_;
  // Last: destroyed first, so no event reaches a member already gone.
  Supervisor supervisor_;
};

}  // namespace

int main(int argc, char** argv) {
  auto args = parse(argc, argv);
  if (!args) {
    std::cerr << "usage: hostsweep-embed-example DATA_DIR [--agent PATH] [--exit-after-first-completion]\n";
    return 2;
  }
  try {
    asio::io_context io;
    App app(io, std::move(*args));
    app.start();
    io.run();  // until the stop has completed and nothing of ours is waiting
    const int status = app.exit_status();
    std::cout << "exit " << status << std::endl;
    return status;
  } catch (const std::exception& e) {
    // Construction's errors: a bad option, the data directory held by another supervisor...
    std::cerr << "hostsweep-embed-example: " << e.what() << '\n';
    return 1;
  }
}
