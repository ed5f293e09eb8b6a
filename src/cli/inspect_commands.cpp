// `hostsweep status` and `hostsweep explain`: the commands that only read.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "commands.hpp"
#include "control_protocol.hpp"
#include "ops/control_socket.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"
#include "sweep/session_sweep.hpp"
#include "json_writer.hpp"

namespace hostsweep::cli {
namespace {

struct SessionStatus {
  store::SessionRecord record;
  bool container_running = false;
  store::InboundSummary inbound;
  int claims = 0;
  std::optional<TimePoint> heartbeat;
};

SessionStatus read_status(const store::Session& session, TimePoint now) {
  SessionStatus s;
  s.record = session.record;
  s.container_running = sweep::container_may_run(session.files);
  s.inbound = store::summarize_inbound(session.files, now);
  // Only the claims are counted: no ack history is read.
  s.claims = static_cast<int>(
      policy::claimed_ids(store::read_outbound(session.files, {.pending_ids = std::vector<std::string>{}}).acks).size());
  s.heartbeat = store::read_heartbeat(session.files);
  return s;
}

int count_of(const store::InboundSummary& summary, const std::string& status) {
  auto it = summary.count_by_status.find(status);
  return it == summary.count_by_status.end() ? 0 : it->second;
}

void write_status_json(JsonWriter& json, const SessionStatus& s, TimePoint now) {
  json.begin_object()
      .field("id", s.record.id)
      .field("agent_group_id", s.record.agent_group_id)
      .field("status", s.record.status)
      .field("container_running", s.container_running);
  json.key("counts").begin_object();
  for (const auto& [status, count] : s.inbound.count_by_status) json.field(status, count);
  json.end_object();
  json.field("due", static_cast<int>(s.inbound.due_ids.size()));
  json.key("next_due");
  s.inbound.next_due ? json.value(policy::format_iso8601(*s.inbound.next_due)) : json.null();
  json.field("claims", s.claims);
  json.key("heartbeat_age_ms");
  s.heartbeat ? json.value(static_cast<std::int64_t>((now - *s.heartbeat).count())) : json.null();
  json.end_object();
}

void print_status_table(const std::vector<SessionStatus>& rows, TimePoint now) {
  constexpr auto kRow = "{:<28} {:<14} {:<7} {:<9} {:>7} {:>4} {:>9} {:>6} {:>6}  {:<32} {}\n";
  std::cout << fmt::format(kRow, "SESSION", "GROUP", "STATUS", "CONTAINER", "PENDING", "DUE", "COMPLETED", "FAILED", "CLAIMS",
                           "NEXT DUE", "HEARTBEAT");
  for (const auto& s : rows) {
    std::string next = s.inbound.next_due
                           ? fmt::format("{} ({})", policy::format_iso8601(*s.inbound.next_due), relative(*s.inbound.next_due, now))
                           : "-";
    std::cout << fmt::format(kRow, s.record.id, s.record.agent_group_id, escape_text(s.record.status),
                             s.container_running ? "running" : "stopped",
                             count_of(s.inbound, "pending"), s.inbound.due_ids.size(), count_of(s.inbound, "completed"),
                             count_of(s.inbound, "failed"), s.claims, next,
                             s.heartbeat ? relative(*s.heartbeat, now) : "none");
  }
}

void print_plan(const store::Session& session, const policy::SweepFacts& facts, const policy::SweepPlan& plan) {
  const TimePoint now = facts.now;
  std::cout << fmt::format("session {} (agent group {}), at {}\n", session.record.id, session.record.agent_group_id,
                           policy::format_iso8601(now));
  if (!facts.container_running) {
    std::cout << "container: none running (the session lock is free)\n";
  } else {
    std::cout << "container: running"
              << (facts.container_started_at ? fmt::format(" since {} ({})", policy::format_iso8601(*facts.container_started_at),
                                                           relative(*facts.container_started_at, now))
                                             : std::string(" (start time unknown)"))
              << '\n';
  }
  std::cout << "heartbeat: "
            << (facts.heartbeat_mtime ? fmt::format("{} ({})", policy::format_iso8601(*facts.heartbeat_mtime),
                                                    relative(*facts.heartbeat_mtime, now))
                                      : std::string("none"))
            << '\n';

  std::cout << "1. sync acks: ";
  if (plan.settlements.empty()) std::cout << "nothing to settle\n";
  else std::cout << plan.settlements.size() << " message(s) settle\n";
  for (const auto& s : plan.settlements) std::cout << fmt::format("   {} -> {}\n", escape_text(s.message_id), policy::to_string(s.status));

  std::cout << "2. crashed-container cleanup: ";
  if (facts.container_running) {
    std::cout << "skipped, a container is running\n";
  } else if (plan.orphan_claims.empty()) {
    std::cout << "no orphan claims\n";
  } else {
    std::cout << plan.orphan_claims.size() << " orphan claim(s), deleted after:\n";
    for (const auto& claim : plan.orphan_claims) {
      auto retry = std::find_if(plan.retries.begin(), plan.retries.end(), [&](const auto& r) { return r.message_id == claim; });
      std::cout << fmt::format("   {}: {}\n", escape_text(claim),
                               retry == plan.retries.end() ? "no pending message of that id: only the claim goes"
                                                           : escape_text(retry->decision.reason));
    }
  }

  std::cout << "3. liveness: ";
  if (!facts.container_running) std::cout << "no container to judge\n";
  else if (!plan.stuck) std::cout << "cannot judge: the lock holder recorded no container (a maintenance pass?)\n";
  else if (plan.stuck->verdict == policy::StuckVerdict::healthy) std::cout << escape_text(plan.stuck->reason) << '\n';
  else std::cout << fmt::format("kill ({}): {}\n", policy::to_string(plan.stuck->verdict), escape_text(plan.stuck->reason));

  std::cout << "4. recurrence: ";
  if (plan.fan_outs.empty()) std::cout << "no finished recurring message\n";
  else std::cout << plan.fan_outs.size() << " finished recurring message(s)\n";
  for (const auto& f : plan.fan_outs) {
    if (f.next) std::cout << fmt::format("   {}: next run at {} ({})\n", escape_text(f.message_id), policy::format_iso8601(*f.next), relative(*f.next, now));
    else std::cout << fmt::format("   {}: the series ends: {}\n", escape_text(f.message_id), escape_text(f.error));
  }

  std::cout << "5. wake: ";
  if (plan.wake) std::cout << plan.due_ids.size() << " message(s) due: start a container\n";
  else if (!plan.due_ids.empty()) std::cout << plan.due_ids.size() << " message(s) due, for the running container\n";
  else std::cout << "nothing due\n";
  if (plan.next_due) {
    std::cout << fmt::format("   next due at {} ({})\n", policy::format_iso8601(*plan.next_due), relative(*plan.next_due, now));
  }
}

void print_plan_json(const store::Session& session, const policy::SweepFacts& facts, const policy::SweepPlan& plan) {
  JsonWriter json;
  json.begin_object()
      .field("session", session.record.id)
      .field("agent_group_id", session.record.agent_group_id)
      .field("now", policy::format_iso8601(facts.now))
      .field("container_running", facts.container_running);
  json.key("container_started_at");
  facts.container_started_at ? json.value(policy::format_iso8601(*facts.container_started_at)) : json.null();
  json.key("heartbeat");
  facts.heartbeat_mtime ? json.value(policy::format_iso8601(*facts.heartbeat_mtime)) : json.null();
  json.key("settle").begin_array();
  for (const auto& s : plan.settlements) json.begin_object().field("message_id", s.message_id).field("status", policy::to_string(s.status)).end_object();
  json.end_array();
  json.key("retries").begin_array();
  for (const auto& r : plan.retries) {
    json.begin_object()
        .field("message_id", r.message_id)
        .field("action", policy::to_string(r.decision.action))
        .field("reason", r.decision.reason);
    if (r.decision.action == policy::RetryAction::retry) {
      json.field("tries", r.decision.new_tries)
          .field("backoff_ms", static_cast<std::int64_t>(r.decision.backoff.count()))
          .field("process_after", policy::format_iso8601(r.decision.process_after));
    }
    json.end_object();
  }
  json.end_array();
  json.key("orphan_claims").begin_array();
  for (const auto& id : plan.orphan_claims) json.value(id);
  json.end_array();
  json.key("liveness");
  if (!plan.stuck) {
    json.null();
  } else {
    json.begin_object()
        .field("verdict", policy::to_string(plan.stuck->verdict))
        .field("reason", plan.stuck->reason)
        .field("silence_ms", static_cast<std::int64_t>(plan.stuck->silence.count()))
        .field("window_ms", static_cast<std::int64_t>(plan.stuck->window.count()))
        .field("message_id", plan.stuck->message_id);
    json.key("deadline");
    plan.stuck->deadline ? json.value(policy::format_iso8601(*plan.stuck->deadline)) : json.null();
    json.end_object();
  }
  json.key("recurrences").begin_array();
  for (const auto& f : plan.fan_outs) {
    json.begin_object().field("message_id", f.message_id);
    json.key("next");
    f.next ? json.value(policy::format_iso8601(*f.next)) : json.null();
    if (!f.error.empty()) json.field("error", f.error);
    json.end_object();
  }
  json.end_array();
  json.key("due").begin_array();
  for (const auto& id : plan.due_ids) json.value(id);
  json.end_array();
  json.key("next_due");
  plan.next_due ? json.value(policy::format_iso8601(*plan.next_due)) : json.null();
  json.field("wake", plan.wake);
  json.end_object();
  std::cout << json.str() << '\n';
}

void print_live_table(const LiveStatus& live) {
  const auto& d = live.daemon;
  std::cout << fmt::format("daemon pid {} (hostsweep {}), up {}, {}; {} session(s)\n", d.pid, escape_text(d.version),
                           policy::format_duration(std::max(Duration{0}, std::chrono::duration_cast<Duration>(live.now - d.started))),
                           d.stopping ? "stopping" : d.ready ? "ready" : "starting (its first sweep is not done)",
                           live.sessions.size());
  constexpr auto kRow = "{:<28} {:<14} {:<11} {:>7} {:>9}  {:<48} {:<22} {}\n";
  std::cout << fmt::format(kRow, "SESSION", "GROUP", "PHASE", "PID", "UPTIME", "NEXT DEADLINE", "BACKOFF UNTIL", "ERROR");
  for (const auto& v : live.sessions) {
    std::string uptime = v.container_started
                             ? policy::format_duration(std::max(Duration{0}, std::chrono::duration_cast<Duration>(
                                                                                live.now - *v.container_started)))
                             : "-";
    std::string next = v.next_deadline ? fmt::format("{} ({})", relative(*v.next_deadline, live.now),
                                                     deadline_meaning(v.next_deadline_kind))
                                        : "-";
    std::cout << fmt::format(kRow, escape_text(v.session_id), escape_text(v.agent_group_id), supervisor::to_string(v.phase),
                             v.pid ? std::to_string(v.pid) : "-", uptime, next,
                             v.backoff_until ? relative(*v.backoff_until, live.now) : "-",
                             v.last_error.empty() ? "-" : escape_text(v.last_error));
  }
}

// Once: from the daemon when one answers on the control socket (unless `files`), else from the
// files, saying so.
void show_status(const store::DataDir& data, bool json, bool files, int& exit_code) {
  std::string why_not = "--files";
  if (!files) {
    if (auto reply = ops::ask_control_socket(data.control_socket(), status_request(), std::chrono::seconds(5), why_not)) {
      // A daemon that answers nonsense is an error (exit 5), not a reason to read the files.
      auto live = parse_status_reply(*reply);
      if (json) {
        JsonWriter w;
        w.begin_object().field("source", "daemon");
        write_live_status_fields(w, live);
        w.end_object();
        std::cout << w.str() << '\n';
      } else {
        print_live_table(live);
      }
      return;
    }
  }
  const TimePoint now = policy::now_utc();
  std::vector<SessionStatus> rows;
  // One bad registry row or unreadable session is reported and skipped; the others are
  // still shown. The messages may quote what a container wrote: escaped.
  auto listing = store::list_sessions_checked(data, false);
  for (const auto& bad : listing.bad_rows) {
    std::cerr << "hostsweep: error: " << escape_text(bad.what()) << '\n';
    exit_code = exit_code_for(bad.code());
  }
  for (const auto& session : listing.sessions) {
    try {
      rows.push_back(read_status(session, now));
    } catch (const Error& e) {
      std::cerr << "hostsweep: error: session " << session.record.id << ": " << escape_text(e.what()) << '\n';
      exit_code = exit_code_for(e.code());
    }
  }
  const std::string source = files ? std::string("the session files (--files)")
                                   : fmt::format("the session files: no daemon answers on {} ({})",
                                                 data.control_socket().string(), why_not);
  if (json) {
    JsonWriter w;
    w.begin_object().field("source", "files").field("note", source).field("now", policy::format_iso8601(now));
    w.key("sessions").begin_array();
    for (const auto& row : rows) write_status_json(w, row, now);
    w.end_array().end_object();
    std::cout << w.str() << '\n';
  } else {
    std::cout << "from " << escape_text(source) << '\n';
    print_status_table(rows, now);
  }
}

}  // namespace

void add_status_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string data_dir;
    bool json = false;
    bool files = false;
    bool watch = false;
    std::string interval = "2s";
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "status",
      "every session: from the running daemon, its phase, container, next deadline and error; without one, from the "
      "files, its messages by status, due work, claims and heartbeat");
  add_data_dir_option(*cmd, opts->data_dir);
  cmd->add_flag("--json", opts->json, "one JSON object on stdout");
  cmd->add_flag("--files", opts->files, "read the session files even when a daemon answers");
  cmd->add_flag("--watch", opts->watch, "print it again every --interval, until interrupted");
  cmd->add_option("--interval", opts->interval, "how often --watch refreshes")->capture_default_str();
  cmd->callback([opts, &exit_code] {
    const auto interval = policy::parse_duration(opts->interval);
    if (!interval || *interval < std::chrono::milliseconds(100)) {
      throw Error(Errc::invalid_argument, fmt::format("--interval {}: a duration of at least 100ms", opts->interval));
    }
    const store::DataDir data(opts->data_dir);
    if (!opts->watch) return show_status(data, opts->json, opts->files, exit_code);
    const bool terminal = ::isatty(STDOUT_FILENO) == 1;
    for (;;) {
      if (terminal) std::cout << "\x1b[H\x1b[2J";  // from the top of a cleared screen
      int ignored = 0;  // a watch goes on through a broken session, which each frame says
      show_status(data, opts->json, opts->files, ignored);
      std::cout.flush();
      std::this_thread::sleep_for(*interval);
    }
  });
}

void add_explain_command(CLI::App& app) {
  struct Options {
    std::string data_dir;
    std::string session;
    bool json = false;
    policy::SweepPolicy policy;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("explain", "what a sweep would do to one session now, and why (changes nothing)");
  add_data_dir_option(*cmd, opts->data_dir);
  cmd->add_option("--session", opts->session, "the session id")->required();
  cmd->add_flag("--json", opts->json, "one JSON object on stdout");
  add_policy_options(*cmd, opts->policy);
  cmd->callback([opts] {
    auto session = store::find_session(store::DataDir(opts->data_dir), opts->session);
    auto facts = sweep::gather_facts(session.files, policy::now_utc());
    auto plan = policy::plan_sweep(opts->policy, facts);
    if (opts->json) print_plan_json(session, facts, plan);
    else print_plan(session, facts, plan);
  });
}

}  // namespace hostsweep::cli
