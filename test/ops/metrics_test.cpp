// The metrics registry: events move its counters, the supervisor's views make its gauges,
// and what it renders is valid exposition text.
#include <gtest/gtest.h>

#include "ops/metrics.hpp"
#include "ops/ops_support.hpp"

namespace hostsweep::ops {
namespace {

using supervisor::Event;
using supervisor::EventKind;
using supervisor::Phase;
using testing::metric_value;

Event event(EventKind kind, std::string reason = {}) { return Event{.kind = kind, .reason = std::move(reason)}; }

SupervisorSnapshot three_sessions() {
  SupervisorSnapshot s;
  s.sessions.push_back({.session_id = "a", .phase = Phase::running, .pid = 10, .watched = true});
  s.sessions.push_back({.session_id = "b", .phase = Phase::backing_off, .watched = true});
  s.sessions.push_back({.session_id = "c", .phase = Phase::idle, .last_error = "inbound.db: file is not a database"});
  s.db_queue_depth = 4;
  s.counters = {.checks = 12, .registry_reloads = 2, .heartbeats = 7};
  return s;
}

TEST(OpsMetrics, EverySeriesExistsAtZeroBeforeAnyEvent) {
  Metrics m;
  auto text = m.render({});
  for (const char* series : {"hostsweep_sweeps_total", "hostsweep_containers_running", "hostsweep_container_starts_total",
                             "hostsweep_container_exits_total{outcome=\"signal\"}",
                             "hostsweep_container_kills_total{reason=\"claim-stuck\"}",
                             "hostsweep_messages_total{outcome=\"retried\"}", "hostsweep_session_errors_total",
                             "hostsweep_sessions{state=\"backing_off\"}", "hostsweep_watch_overflows_total",
                             "hostsweep_container_idle_stops_total", "hostsweep_session_start_failing_total",
                             "hostsweep_sessions_with_errors",
                             "hostsweep_event_latency_seconds_count{path=\"deadline_to_kill\"}",
                             "hostsweep_event_latency_seconds_count{path=\"exit_to_cleanup\"}",
                             "hostsweep_event_latency_seconds_count{path=\"due_to_start\"}",
                             "hostsweep_sweep_duration_seconds_count"}) {
    EXPECT_EQ(metric_value(text, series), 0.0) << series << "\n" << text;
  }
}

TEST(OpsMetrics, EventsMoveTheCounters) {
  Metrics m;
  m.observe(event(EventKind::sweep_completed));
  Event slow_sweep = event(EventKind::sweep_completed);
  slow_sweep.duration = std::chrono::milliseconds(700);
  m.observe(slow_sweep);
  m.observe(event(EventKind::container_started));  // for new work: no due time, no latency
  Event scheduled = event(EventKind::container_started, "scheduled");
  scheduled.late_by = Duration(3);
  m.observe(scheduled);
  Event exited = event(EventKind::container_exited);
  exited.exit = runtime::ExitStatus{.exit_code = 0};
  m.observe(exited);
  exited.exit = runtime::ExitStatus{.exit_code = 3};
  m.observe(exited);
  exited.exit = runtime::ExitStatus{.signal = 9};
  m.observe(exited);
  Event killed = event(EventKind::container_killed, "claim-stuck");
  killed.late_by = Duration(40);
  m.observe(killed);
  m.observe(event(EventKind::container_killed, "shutdown"));
  m.observe(event(EventKind::container_killed, "something new"));
  m.observe(event(EventKind::message_completed));
  m.observe(event(EventKind::message_retried));
  m.observe(event(EventKind::message_retried));
  m.observe(event(EventKind::message_failed));
  m.observe(event(EventKind::session_error, "bad file"));
  m.observe(event(EventKind::watch_overflow));
  Event cleaned = event(EventKind::container_cleaned_up);
  cleaned.duration = Duration(8);
  m.observe(cleaned);
  auto text = m.render({});
  EXPECT_EQ(metric_value(text, "hostsweep_sweeps_total"), 2.0);
  EXPECT_EQ(metric_value(text, "hostsweep_sweep_duration_seconds_bucket{le=\"0.5\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_sweep_duration_seconds_bucket{le=\"1\"}"), 2.0);
  EXPECT_DOUBLE_EQ(metric_value(text, "hostsweep_sweep_duration_seconds_sum").value_or(-1), 0.7);
  EXPECT_EQ(metric_value(text, "hostsweep_container_starts_total"), 2.0);
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_count{path=\"due_to_start\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_bucket{path=\"due_to_start\",le=\"0.0025\"}"), 0.0);
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_bucket{path=\"due_to_start\",le=\"0.005\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_container_exits_total{outcome=\"success\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_container_exits_total{outcome=\"failure\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_container_exits_total{outcome=\"signal\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_container_kills_total{reason=\"claim-stuck\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_container_kills_total{reason=\"shutdown\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_container_kills_total{reason=\"other\"}"), 1.0) << "no new series per reason";
  EXPECT_EQ(text.find("something new"), std::string::npos);
  EXPECT_EQ(metric_value(text, "hostsweep_messages_total{outcome=\"completed\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_messages_total{outcome=\"retried\"}"), 2.0);
  EXPECT_EQ(metric_value(text, "hostsweep_messages_total{outcome=\"failed\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_session_errors_total"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_watch_overflows_total"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_sweep_duration_seconds_count"), 2.0);
  // Only the liveness kill is a deadline's latency: 40 ms, in the 0.05 s bucket.
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_count{path=\"deadline_to_kill\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_bucket{path=\"deadline_to_kill\",le=\"0.025\"}"), 0.0);
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_bucket{path=\"deadline_to_kill\",le=\"0.05\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_sum{path=\"deadline_to_kill\"}"), 0.04);
  // A cleanup 8 ms after its container's exit: in the 0.01 s bucket, not the 0.005 s one.
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_count{path=\"exit_to_cleanup\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_bucket{path=\"exit_to_cleanup\",le=\"0.005\"}"), 0.0);
  EXPECT_EQ(metric_value(text, "hostsweep_event_latency_seconds_bucket{path=\"exit_to_cleanup\",le=\"0.01\"}"), 1.0);
}

TEST(OpsMetrics, GaugesComeFromTheSupervisorsViews) {
  Metrics m;
  auto text = m.render(three_sessions());
  EXPECT_EQ(metric_value(text, "hostsweep_sessions{state=\"running\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_sessions{state=\"backing_off\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_sessions{state=\"idle\"}"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_sessions{state=\"stopping\"}"), 0.0);
  EXPECT_EQ(metric_value(text, "hostsweep_containers_running"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_watches"), 2.0);
  EXPECT_EQ(metric_value(text, "hostsweep_db_queue_depth"), 4.0);
  EXPECT_EQ(metric_value(text, "hostsweep_sessions_with_errors"), 1.0);
  EXPECT_EQ(metric_value(text, "hostsweep_session_checks_total"), 12.0);
  EXPECT_EQ(metric_value(text, "hostsweep_registry_reloads_total"), 2.0);
  EXPECT_EQ(metric_value(text, "hostsweep_heartbeats_total"), 7.0);
}

TEST(OpsMetrics, StatusLineSummarisesInOneLine) {
  Metrics m;
  EXPECT_EQ(m.status_line({}), "0 sessions, 0 containers running, 0 backing off, 0 errors");
  m.observe(event(EventKind::session_error, "x"));
  EXPECT_EQ(m.status_line(three_sessions()), "3 sessions, 1 container running, 1 backing off, 1 error");
  auto with_paused = three_sessions();
  with_paused.sessions.push_back({.session_id = "d", .phase = Phase::paused, .paused = true});
  EXPECT_EQ(m.status_line(with_paused), "4 sessions, 1 container running, 1 backing off, 1 paused, 1 error");
  auto text = m.render(with_paused);
  EXPECT_EQ(metric_value(text, "hostsweep_sessions{state=\"paused\"}"), 1.0) << text;
}

TEST(OpsMetrics, APausesStopIsNoIdleStop) {
  Metrics m;
  m.observe(event(EventKind::container_stopped, "paused"));
  m.observe(event(EventKind::container_stopped, "idle"));
  EXPECT_EQ(metric_value(m.render({}), "hostsweep_container_idle_stops_total"), 1.0);
}

TEST(OpsMetrics, PromtoolAcceptsTheRendering) {
  if (!testing::have_program("promtool")) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  Metrics m;
  Event killed = event(EventKind::container_killed, "ceiling");
  killed.late_by = Duration(1500);
  m.observe(killed);
  testing::TempDir tmp;
  testing::write_file(tmp.path() / "m.txt", m.render(three_sessions()));
  auto [status, out] = testing::shell("promtool check metrics < " + (tmp.path() / "m.txt").string());
  EXPECT_EQ(status, 0) << out;
}

}  // namespace
}  // namespace hostsweep::ops
