#pragma once
// The container's side of one session directory, as the fake agent plays it (PROTOCOL.md).
// Every call opens the file it needs, works and closes it (invariant 3), with a 5 s busy
// timeout; inbound.db is only ever opened read-only, and each write to outbound.db is one
// IMMEDIATE transaction. SQLite's failures surface as SQLite::Exception, the agent's own
// refusals as hostsweep::Error.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hostsweep/policy/timestamp.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::fake_agent {

// A pending inbound message, as much of it as a reply needs.
struct InboundMessage {
  std::string id;
  bool trigger = true;
  std::optional<std::string> platform_id;
  std::optional<std::string> channel_type;
  std::optional<std::string> thread_id;
};

// What finish() wrote for one message.
struct Reply {
  std::string message_id;
  std::string reply_id;
  std::int64_t seq = 0;
};

class ContainerSide {
 public:
  explicit ContainerSide(const std::filesystem::path& session_dir) : files_(session_dir) {}

  const store::SessionFiles& files() const noexcept { return files_; }

  // Adds one to the .fake-agent-starts counter under an exclusive flock, so that concurrent
  // starts count apart, and returns the new value (1 for the first start). A counter file
  // holding anything but a number counts as 0. Throws Error(io_error).
  std::uint64_t count_start() const;

  // The text of the session's .fake-agent file, nullopt when there is none.
  std::optional<std::string> read_script() const;

  // The real container refuses to run without outbound.db and its processing_ack table.
  // Throws Error(not_found | corrupt_file) saying which is missing.
  void check_outbound() const;

  // Deletes the `processing` rows a predecessor left behind; returns how many.
  int delete_leftover_claims() const;

  // Pending messages that are due at `now`: process_after absent, at or before `now` as an
  // instant, or unparseable (treated as due, as the host does). Ordered by seq.
  std::vector<InboundMessage> due_messages(TimePoint now) const;

  // Claims every message of `due` that has no processing_ack row yet (any status), but only
  // when at least one of those has trigger = 1; otherwise claims nothing. Returns the claimed.
  std::vector<InboundMessage> claim(const std::vector<InboundMessage>& due) const;

  // Settles the claims with `ack_status` (completed or failed) and writes one chat reply per
  // message, numbered with the next odd seqs above every seq of both files, in one transaction.
  std::vector<Reply> finish(const std::vector<InboundMessage>& claimed, std::string_view ack_status,
                            std::string_view behavior) const;

  // container_state row 1: a tool in flight. False (nothing written) when the table is
  // missing, as in older outbound files.
  bool declare_tool(std::string_view tool, Duration declared_timeout, TimePoint now) const;
  void clear_tool(TimePoint now) const;

  // Creates .heartbeat or sets its mtime to now. Throws Error(io_error).
  void touch_heartbeat() const;

 private:
  store::SessionFiles files_;
};

// The next odd number above `max_seq` (1 when there is nothing above zero). Throws
// Error(io_error) when it would not fit in 64 bits.
std::int64_t next_odd_seq(std::int64_t max_seq);

}  // namespace hostsweep::fake_agent
