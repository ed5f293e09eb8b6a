// `hostsweep sweep --once`: one pass of the steps that need no container, over every active
// session.
#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
#include "hostsweep/store/registry.hpp"
#include "sweep/session_sweep.hpp"
#include "json_writer.hpp"

namespace hostsweep::cli {
namespace {

int count_action(const sweep::PassResult& outcome, policy::RetryAction action) {
  int n = 0;
  for (const auto& r : outcome.retries) n += r.decision.action == action;
  return n;
}

std::string describe(const sweep::PassResult& outcome, TimePoint now) {
  // A session another process holds, or whose dead supervisor's container still runs, is not
  // touched at all: nothing else to say about it.
  if (outcome.held_elsewhere) {
    return outcome.holder ? fmt::format("left alone: its container (pid {}) runs under supervisor pid {}",
                                        outcome.holder->container.pid, outcome.holder->supervisor.pid)
                          : "left alone: another process holds its lock";
  }
  if (outcome.orphan) {
    return fmt::format("left alone: container pid {} of a supervisor that died (pid {}) still runs; "
                       "`hostsweep run` stops it and cleans up",
                       outcome.orphan->container.pid, outcome.orphan->supervisor.pid);
  }
  std::string line = fmt::format("settled {}, retried {}, failed {}, claims deleted {}, recurrences scheduled {}",
                                 outcome.settled.size(), count_action(outcome, policy::RetryAction::retry),
                                 count_action(outcome, policy::RetryAction::fail), outcome.claims_deleted,
                                 outcome.fan_outs.size());
  for (const auto& f : outcome.fan_outs) {
    if (!f.next) line += fmt::format("; series of {} ended: {}", escape_text(f.message_id), escape_text(f.error));
  }
  if (outcome.container_running) {
    line += "; container running";
    if (outcome.stuck && outcome.stuck->verdict != policy::StuckVerdict::healthy) {
      line += fmt::format(" and stuck ({}): {}", policy::to_string(outcome.stuck->verdict), escape_text(outcome.stuck->reason));
    }
  }
  if (!outcome.summary.due_ids.empty()) {
    line += fmt::format("; {} due{}", outcome.summary.due_ids.size(), outcome.container_running ? "" : " (needs a container)");
  } else if (outcome.summary.next_due) {
    line += fmt::format("; next due {}", relative(*outcome.summary.next_due, now));
  }
  return line;
}

}  // namespace

void add_sweep_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string data_dir;
    bool once = false;
    bool json = false;
    policy::SweepPolicy policy;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("sweep", "run a sweep over every active session");
  add_data_dir_option(*cmd, opts->data_dir);
  cmd->add_flag("--once", opts->once, "one pass of the steps that need no container, then exit")->required();
  cmd->add_flag("--json", opts->json, "one JSON object per session on stdout");
  add_policy_options(*cmd, opts->policy);
  cmd->callback([opts, &exit_code] {
    // A bad registry row is reported and skipped (its message escaped: it may quote what a
    // container wrote); the good sessions are still swept.
    auto listing = store::list_sessions_checked(store::DataDir(opts->data_dir), true);
    for (const auto& bad : listing.bad_rows) {
      std::cerr << "hostsweep: error: " << escape_text(bad.what()) << '\n';
      exit_code = exit_code_for(bad.code());
    }
    for (const auto& session : listing.sessions) {
      const TimePoint now = policy::now_utc();
      try {
        auto outcome = sweep::sweep_once(session.files, opts->policy, now);
        if (opts->json) {
          JsonWriter json;
          json.begin_object()
              .field("session", session.record.id)
              .field("container_running", outcome.container_running)
              .field("settled", static_cast<int>(outcome.settled.size()))
              .field("retried", count_action(outcome, policy::RetryAction::retry))
              .field("failed", count_action(outcome, policy::RetryAction::fail))
              .field("claims_deleted", outcome.claims_deleted)
              .field("recurrences", static_cast<int>(outcome.fan_outs.size()))
              .field("due", static_cast<int>(outcome.summary.due_ids.size()));
          json.key("next_due");
          outcome.summary.next_due ? json.value(policy::format_iso8601(*outcome.summary.next_due)) : json.null();
          json.end_object();
          std::cout << json.str() << '\n';
        } else {
          std::cout << session.record.id << ": " << describe(outcome, now) << '\n';
        }
      } catch (const Error& e) {
        // One bad session does not stop the sweep of the others.
        std::cerr << "hostsweep: error: session " << session.record.id << ": " << escape_text(e.what()) << '\n';
        exit_code = exit_code_for(e.code());
      }
    }
  });
}

}  // namespace hostsweep::cli
