#pragma once
// The daemon's metrics, fed by the supervisor's event stream (counters) and read from its
// public views at each scrape (gauges). Everything lives on the daemon's loop: observe() and
// render() are called from the supervisor's executor and never touch a database.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hostsweep/supervisor/supervisor.hpp"
#include "ops/prometheus_text.hpp"

namespace hostsweep::ops {

// What the supervisor shows at one moment, passed to render() (a test builds one by hand).
struct SupervisorSnapshot {
  std::vector<supervisor::SessionView> sessions;
  std::size_t db_queue_depth = 0;
  supervisor::Supervisor::Counters counters;
};

SupervisorSnapshot snapshot_of(const supervisor::Supervisor& s);

class Metrics {
 public:
  Metrics();

  void observe(const supervisor::Event& event);

  // The whole exposition, `text/plain; version=0.0.4`.
  std::string render(const SupervisorSnapshot& now) const;

  // "3 sessions, 1 container running, 0 backing off, 2 errors": systemd's STATUS= line.
  std::string status_line(const SupervisorSnapshot& now) const;

  std::uint64_t sweeps() const noexcept { return sweeps_; }
  std::uint64_t session_errors() const noexcept { return session_errors_; }

 private:
  std::uint64_t sweeps_ = 0;
  std::uint64_t container_starts_ = 0;
  std::uint64_t container_start_failures_ = 0;
  std::map<std::string, std::uint64_t> exits_;     // outcome: success | failure | signal
  std::map<std::string, std::uint64_t> kills_;     // reason: ceiling | claim-stuck | shutdown | orphan | other
  std::map<std::string, std::uint64_t> messages_;  // outcome: completed | failed | retried
  std::uint64_t session_errors_ = 0;
  std::uint64_t session_backoffs_ = 0;
  std::uint64_t idle_stops_ = 0;
  std::uint64_t start_failing_ = 0;
  std::uint64_t watch_overflows_ = 0;
  std::uint64_t watch_unavailable_ = 0;
  Histogram deadline_to_kill_;  // seconds a stuck container outlived its deadline
  Histogram exit_to_cleanup_;   // seconds from a container's exit to its cleanup committed
  Histogram due_to_start_;      // seconds from scheduled work coming due to its container's start
  Histogram sweep_duration_;    // seconds from a sweep's start until its last check returned
};

}  // namespace hostsweep::ops
