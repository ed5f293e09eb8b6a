// Benchmarks (not tests): latencies of the event paths with real fake-agent containers, and
// the cost of a sweep over many idle sessions. Prints a Markdown report; BENCHMARKS.md keeps
// the figures with the machine they came from.
//
//   hostsweep_bench [--sessions 1000,10000] [--repetitions 200] [--passes 1] [--fake-agent PATH]
//
// --repetitions 0 skips the latencies; --passes N repeats the one-thread pass N times (its
// figures are per pass), which makes a profile of it stand out from the setup.
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "hostsweep/store/inbound_store.hpp"
#include "hostsweep/store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "hostsweep/supervisor/supervisor.hpp"
#include "hostsweep/sweep/session_sweep.hpp"

using namespace hostsweep;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
  std::size_t n = 0;
};

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))]; };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.max = v.back();
  return p;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Bytes the program holds on the heap (every malloc arena): what RSS would be without the
// allocator's free pages.
double heap_in_use_mib() { return static_cast<double>(mallinfo2().uordblks) / (1024.0 * 1024.0); }

std::filesystem::path make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "hostsweep-bench-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

double ms(Duration d) { return static_cast<double>(d.count()); }

// Runs `io` until `done` or the timeout; false on timeout.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::seconds timeout = 60s) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    io.restart();
    io.run_for(1ms);
  }
  return true;
}

supervisor::SupervisorOptions bench_options(const std::string& agent) {
  supervisor::SupervisorOptions o;
  // --idle-exit: finished containers leave, so the measured paths do not queue behind hundreds
  // of idle agents polling their files.
  o.runtime.agent_command = {agent, "--session-dir", "{session_dir}", "--poll-interval", "5ms", "--work-time", "5ms",
                             "--heartbeat-interval", "20ms", "--idle-exit", "50ms"};
  o.sweep_interval = 1h;
  o.policy.retry.backoff_base = 1h;  // retried messages stay out of the way
  o.policy.stuck.claim_tolerance = 200ms;
  o.policy.stuck.startup_grace = 200ms;
  o.kill_grace = 200ms;
  o.start_backoff.base = 1ms;
  o.start_backoff.cap = 1ms;
  return o;
}

// One latency per repetition, each on a fresh session so that nothing queues behind it.
void latencies(const std::string& agent, int repetitions) {
  auto root = make_temp_dir();
  store::DataDir data(root / "data");
  std::map<std::string, std::string> behaviour;
  for (int i = 0; i < repetitions; ++i) {
    for (const char* kind : {"start", "exit", "kill"}) {
      std::string id = std::string(kind) + std::to_string(i);
      auto s = store::create_session(data, "bench", id, policy::now_utc());
      std::ofstream(s.files.dir() / ".fake-agent")
          << (std::string(kind) == "start" ? "normal" : std::string(kind) == "exit" ? "crash-after-claim" : "hang-after-claim")
          << "\n";
    }
  }
  boost::asio::io_context io;
  std::vector<supervisor::Event> events;
  supervisor::Supervisor sup(io.get_executor(), data, bench_options(agent), [&](const supervisor::Event& e) { events.push_back(e); });
  sup.start();
  run_until(io, [&] { return sup.pending_work() == 0 && !events.empty(); });

  std::vector<double> enqueue_to_start, exit_to_cleanup, deadline_to_kill;
  for (int i = 0; i < repetitions; ++i) {
    for (const char* kind : {"start", "exit", "kill"}) {
      std::string id = std::string(kind) + std::to_string(i);
      auto files = data.session("bench", id);
      // On an idle machine: the previous repetitions' containers have gone and their checks are done.
      run_until(io, [&] {
        if (sup.pending_work() != 0) return false;
        for (const auto& view : sup.sessions()) {
          if (view.pid != 0) return false;
        }
        return true;
      });
      std::size_t mark = events.size();
      store::enqueue(files, {.content = "x"}, policy::now_utc());
      auto enqueued_at = policy::now_utc();  // committed: what follows is the supervisor's part
      auto find = [&](supervisor::EventKind k) -> const supervisor::Event* {
        for (std::size_t j = mark; j < events.size(); ++j) {
          if (events[j].kind == k && events[j].session_id == id) return &events[j];
        }
        return nullptr;
      };
      if (std::string(kind) == "start") {
        if (run_until(io, [&] { return find(supervisor::EventKind::container_started) != nullptr; }))
          enqueue_to_start.push_back(ms(find(supervisor::EventKind::container_started)->at - enqueued_at));
      } else if (std::string(kind) == "exit") {
        if (run_until(io, [&] { return find(supervisor::EventKind::message_retried) != nullptr; }))
          exit_to_cleanup.push_back(ms(find(supervisor::EventKind::message_retried)->at -
                                       find(supervisor::EventKind::container_exited)->at));
      } else {
        if (run_until(io, [&] { return find(supervisor::EventKind::container_killed) != nullptr; }))
          deadline_to_kill.push_back(ms(find(supervisor::EventKind::container_killed)->delay));
      }
    }
  }
  bool stopped = false;
  sup.async_stop([&] { stopped = true; });
  run_until(io, [&] { return stopped; });
  std::filesystem::remove_all(root);

  std::printf("\n## Event latencies (%d repetitions, milliseconds; event timestamps have 1 ms resolution)\n\n", repetitions);
  std::printf("| path | p50 | p99 | max | n |\n| --- | --- | --- | --- | --- |\n");
  auto row = [](const char* name, const std::vector<double>& v) {
    auto p = percentiles(v);
    std::printf("| %s | %.0f | %.0f | %.0f | %zu |\n", name, p.p50, p.p99, p.max, p.n);
  };
  row("enqueue committed by another writer -> container started", enqueue_to_start);
  row("container exit observed -> cleanup committed", exit_to_cleanup);
  row("stuck deadline -> kill signalled", deadline_to_kill);
}

void sweep_cost(std::size_t count, int passes) {
  auto root = make_temp_dir();
  store::DataDir data(root / "data");
  for (std::size_t i = 0; i < count; ++i) {
    // Idle, as a session is after its work: a message, the container's ack of it, settled.
    auto s = store::create_session(data, "bench", "idle" + std::to_string(i), policy::now_utc());
    auto id = store::enqueue(s.files, {.content = "done"}, policy::now_utc()).id;
    SQLite::Database out(s.files.outbound().string(), SQLite::OPEN_READWRITE);
    out.exec("INSERT INTO processing_ack VALUES ('" + id + "', 'completed', datetime('now'))");
    store::settle_acks(s.files, store::read_outbound(s.files).acks);
  }
  // The blocking work of one pass, on one thread, with nothing remembered (sweep --once, or a
  // daemon's first sweep): what the reference did on its event loop at every sweep.
  policy::SweepPolicy policy;
  auto sessions = store::list_sessions(data, true);
  double cpu0 = cpu_seconds();
  auto t0 = Clock::now();
  for (int pass = 0; pass < passes; ++pass) {
    for (const auto& s : sessions) sweep::sweep_once(s.files, policy, policy::now_utc());
  }
  double serial_wall = std::chrono::duration<double>(Clock::now() - t0).count() / passes;
  double serial_cpu = (cpu_seconds() - cpu0) / passes;

  // The supervisor's sweep: the same passes on its pool, while the caller's loop keeps running.
  // Its first sweep (at start) reads every session; the one measured is a later one, whose
  // passes find their files unchanged (sweep::PassMemo).
  const double heap_before_mib = heap_in_use_mib();
  boost::asio::io_context io;
  supervisor::SupervisorOptions options;
  options.runtime.agent_command = {"true"};
  options.sweep_interval = 1h;
  std::vector<supervisor::Event> events;
  supervisor::Supervisor sup(io.get_executor(), data, options, [&](const supervisor::Event& e) { events.push_back(e); });
  sup.start();
  run_until(io, [&] { return !events.empty() && sup.pending_work() == 0; }, 600s);
  long rss = rss_kib();
  double heap_mib = heap_in_use_mib();

  double max_lag_ms = 0;
  boost::asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    auto expected = Clock::now() + 1ms;
    ticker.expires_at(expected);
    ticker.async_wait([&, expected](boost::system::error_code ec) {
      if (ec) return;
      max_lag_ms = std::max(max_lag_ms, std::chrono::duration<double, std::milli>(Clock::now() - expected).count());
      tick();
    });
  };
  tick();
  cpu0 = cpu_seconds();
  t0 = Clock::now();
  sup.sweep_now();
  io.restart();
  io.run_for(1ms);
  run_until(io, [&] { return sup.pending_work() == 0; }, 600s);
  double sweep_wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double sweep_cpu = cpu_seconds() - cpu0;
  ticker.cancel();

  // Idle between sweeps: nothing should wake.
  cpu0 = cpu_seconds();
  io.restart();
  io.run_for(3s);
  double idle_cpu = cpu_seconds() - cpu0;

  bool stopped = false;
  sup.async_stop([&] { stopped = true; });
  run_until(io, [&] { return stopped; });
  std::filesystem::remove_all(root);

  std::printf("\n## Sweep over %zu idle sessions\n\n", count);
  std::printf("| measure | value |\n| --- | --- |\n");
  std::printf("| one pass on one thread, nothing remembered: wall | %.2f s (%.0f us per session) |\n", serial_wall, serial_wall * 1e6 / static_cast<double>(count));
  std::printf("| one pass on one thread, nothing remembered: CPU | %.2f s (%.0f us per session) |\n", serial_cpu, serial_cpu * 1e6 / static_cast<double>(count));
  std::printf("| supervisor sweep, files unchanged (pool of 2): wall | %.2f s |\n", sweep_wall);
  std::printf("| supervisor sweep: CPU, all threads | %.2f s (%.0f us per session) |\n", sweep_cpu, sweep_cpu * 1e6 / static_cast<double>(count));
  std::printf("| caller's loop during the sweep: worst lag of a 1 ms timer | %.1f ms |\n", max_lag_ms);
  std::printf("| idle daemon between sweeps: CPU over 3 s | %.3f s |\n", idle_cpu);
  std::printf("| resident memory with the sessions loaded | %.1f MiB (heap in use %.1f MiB, the supervisor's %.0f B per session) |\n",
              static_cast<double>(rss) / 1024.0, heap_mib,
              (heap_mib - heap_before_mib) * 1024.0 * 1024.0 / static_cast<double>(count));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> counts = {1000, 10000};
  int repetitions = 200;
  int passes = 1;
  std::string agent = HOSTSWEEP_FAKE_AGENT_PATH;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--sessions") {
      counts.clear();
      std::stringstream ss(value);
      for (std::string item; std::getline(ss, item, ',');) counts.push_back(std::stoul(item));
    } else if (flag == "--repetitions") {
      repetitions = std::stoi(value);
    } else if (flag == "--passes") {
      passes = std::max(1, std::stoi(value));
    } else if (flag == "--fake-agent") {
      agent = value;
    }
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::printf("# hostsweep benchmark\n\nMachine: %s, %ld CPUs, %s\n", host, sysconf(_SC_NPROCESSORS_ONLN),
              policy::format_iso8601(policy::now_utc()).c_str());
  if (repetitions > 0) latencies(agent, repetitions);  // --repetitions 0: the sweep only
  for (auto n : counts) sweep_cost(n, passes);
  return 0;
}
