// `hostsweep message retry --session S ID`: an operator gives a failed message another go.
//
// The message goes back to pending in inbound.db, which the host owns and any host process may
// write in a transaction of its own, as `enqueue` does without the session lock. But the
// container's failed ack stays in outbound.db, and the next sync of acks would settle the
// message failed again at once (a container also never claims a message it has acked). So the
// ack is deleted first, and outbound.db is the container's file: the host writes it only with
// the session lock held and no container of the session alive (PROTOCOL.md invariant 1), as
// the crashed-container cleanup does. A retry with an ack to delete therefore takes the session
// lock for that one delete, waiting a little for a daemon's check or cleanup that holds it, and
// is refused while a container runs. It releases the lock before it writes inbound.db, so that
// the daemon's check woken by that commit finds the session free and starts a container at once.
// A message failed by the host (its retries used up) has no ack left: that retry writes
// inbound.db alone, like `enqueue`, container or not; no container acks a failed message, which
// it cannot claim, between the look and the write.
#include <chrono>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "commands.hpp"
#include "json_writer.hpp"
#include "os/holder_record.hpp"
#include "os/session_lock.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/registry.hpp"

namespace hostsweep::cli {
namespace {

// Longer than a daemon's check or cleanup holds the lock; a container holds it far longer.
constexpr auto kLockWait = std::chrono::seconds{5};

bool recorded_container_alive(const store::SessionFiles& files) {
  auto record = os::read_holder_record(files.holder_record());
  return record && os::recorded_container_alive(*record);
}

Error container_runs(const std::string& session) {
  return Error(Errc::io_error,
               fmt::format("session \"{}\" has a running container, which owns outbound.db where the failure is "
                           "recorded: retry once it has stopped (`hostsweep session pause --wait` stops it; "
                           "`session resume` after the retry)",
                           session));
}

// The session lock, once no daemon's check or cleanup holds it; refused while a container runs.
os::SessionLock take_lock(const store::SessionFiles& files, const std::string& session) {
  const auto deadline = std::chrono::steady_clock::now() + kLockWait;
  for (;;) {
    if (auto lock = os::SessionLock::try_acquire(files.lock())) {
      // A record under a free lock: its supervisor died, and its container may live on.
      if (recorded_container_alive(files)) throw container_runs(session);
      return std::move(*lock);
    }
    if (recorded_container_alive(files)) throw container_runs(session);
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(Errc::io_error, fmt::format("session \"{}\" is locked by another process (its container, or a "
                                              "check that does not end): retry later",
                                              session));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

// Whether outbound.db holds an ack of the message; true when it cannot be read (the locked
// path then opens it read-write, which also rolls back a hot journal, or says what is wrong).
bool has_ack(const store::SessionFiles& files, const std::string& id) {
  try {
    for (const auto& ack : store::read_outbound(files).acks) {
      if (ack.message_id == id) return true;
    }
    return false;
  } catch (const Error&) {
    return true;
  }
}

// "pending", or "being processed" when a container holds a claim on it: for the refusal.
std::string described_status(const store::SessionFiles& files, const std::string& id, policy::MessageStatus status) {
  if (status == policy::MessageStatus::pending) {
    try {
      for (const auto& ack : store::read_outbound(files).acks) {
        if (ack.message_id == id && ack.status == policy::AckStatus::processing) return "being processed (claimed)";
      }
    } catch (const Error&) {
      // An unreadable outbound.db changes nothing about the refusal: the message is pending.
    }
  }
  return policy::to_string(status);
}

}  // namespace

void add_message_command(CLI::App& app) {
  auto* message = app.add_subcommand("message", "act on one message of a session");
  message->require_subcommand(1);

  struct RetryOptions {
    std::string data_dir;
    std::string session;
    std::string id;
  };
  auto opts = std::make_shared<RetryOptions>();
  auto* retry = message->add_subcommand(
      "retry", "put a failed message back to pending with tries 0, due at once (with or without a running daemon)");
  add_data_dir_option(*retry, opts->data_dir);
  retry->add_option("--session", opts->session, "the session id")->required();
  retry->add_option("id", opts->id, "the message id")->required();
  retry->callback([opts] {
    auto session = store::find_session(store::DataDir(opts->data_dir), opts->session);
    const auto& files = session.files;
    // Refused before anything is taken or written; retry_failed checks again in its transaction.
    auto states = store::read_message_states(files, {opts->id});
    auto state = states.find(opts->id);
    if (state == states.end()) {
      throw Error(Errc::not_found, fmt::format("session \"{}\" has no message \"{}\"", opts->session, opts->id));
    }
    if (state->second.status != policy::MessageStatus::failed) {
      throw Error(Errc::invalid_argument,
                  fmt::format("message \"{}\" is {}, not failed: only a failed message can be retried", opts->id,
                              described_status(files, opts->id, state->second.status)));
    }
    if (has_ack(files, opts->id)) {
      auto lock = take_lock(files, opts->session);
      // Gone before the message is pending again: should this stop here, the message is still
      // failed, with nothing left to settle it, and a second retry finishes the work.
      store::delete_acks(files, {opts->id}, lock);
    }
    store::retry_failed(files, opts->id);
    std::cout << fmt::format("{}: pending, tries 0\n", escape_text(opts->id));
  });
}

}  // namespace hostsweep::cli
