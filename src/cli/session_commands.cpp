// `hostsweep session create` (with its template) and `hostsweep enqueue`: the commands that write.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
#include "policy/cron.hpp"
#include "store/inbound_store.hpp"
#include "hostsweep/store/registry.hpp"

namespace hostsweep::cli {

void add_session_command(CLI::App& app) {
  auto* session = app.add_subcommand("session", "manage sessions");
  session->require_subcommand(1);

  struct CreateOptions {
    std::string data_dir;
    std::string agent_group;
    std::optional<std::string> id;
    std::optional<std::string> template_dir;
  };
  auto opts = std::make_shared<CreateOptions>();
  auto* create = session->add_subcommand("create", "create a session and print its id");
  add_data_dir_option(*create, opts->data_dir);
  create->add_option("--agent-group", opts->agent_group, "the agent group the session belongs to")->required();
  create->add_option("--id", opts->id, "the session id (default: generated)");
  create->add_option("--template", opts->template_dir,
                     "a directory whose files are copied into the session (default: DATA_DIR/templates/<agent-group>/ "
                     "when it exists); regular files and directories only, no symlinks");
  create->callback([opts] {
    std::optional<std::filesystem::path> template_dir;
    if (opts->template_dir) template_dir = *opts->template_dir;
    auto created = store::create_session(store::DataDir(opts->data_dir), opts->agent_group, opts->id, policy::now_utc(),
                                         template_dir);
    std::cout << created.record.id << '\n';
  });
  add_pause_commands(*session);
}

void add_enqueue_command(CLI::App& app) {
  struct Options {
    std::string data_dir;
    std::string session;
    std::optional<std::string> process_after;
    store::NewMessage message;
    int trigger = 1;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("enqueue", "add a message to a session's inbound.db and print its id");
  add_data_dir_option(*cmd, opts->data_dir);
  cmd->add_option("--session", opts->session, "the session id")->required();
  cmd->add_option("--content", opts->message.content, "the payload (opaque; JSON in practice)")->required();
  cmd->add_option("--kind", opts->message.kind, "chat, task, system, ...")->capture_default_str();
  cmd->add_option("--id", opts->message.id, "the message id (default: generated)");
  cmd->add_option("--process-after", opts->process_after, "not due before this time (UTC unless it has an offset)");
  cmd->add_option("--recurrence", opts->message.recurrence, "cron expression: run again on this schedule");
  cmd->add_option("--trigger", opts->trigger, "1: wakes a container; 0: context only")
      ->capture_default_str()
      ->check(CLI::IsMember({0, 1}));
  cmd->add_option("--platform-id", opts->message.platform_id, "routing (opaque)");
  cmd->add_option("--channel-type", opts->message.channel_type, "routing (opaque)");
  cmd->add_option("--thread-id", opts->message.thread_id, "routing (opaque)");
  cmd->callback([opts] {
    // Everything is validated before the session is touched: nothing is half-written.
    if (opts->process_after) {
      opts->message.process_after = policy::parse_timestamp(*opts->process_after);
      if (!opts->message.process_after) {
        throw Error(Errc::invalid_argument,
                    fmt::format("--process-after \"{}\" is not a timestamp (write e.g. 2026-03-08T07:00:00Z or "
                                "\"2026-03-08 07:00:00\")",
                                *opts->process_after));
      }
    }
    if (opts->message.recurrence) {
      std::string error;
      if (!policy::CronSchedule::try_parse(*opts->message.recurrence, error)) {
        throw Error(Errc::invalid_argument, fmt::format("--recurrence \"{}\": {}", *opts->message.recurrence, error));
      }
    }
    opts->message.trigger = opts->trigger == 1;
    auto session = store::find_session(store::DataDir(opts->data_dir), opts->session);
    auto enqueued = store::enqueue(session.files, opts->message, policy::now_utc());
    std::cout << enqueued.id << '\n';
  });
}

}  // namespace hostsweep::cli
