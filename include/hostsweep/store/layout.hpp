#pragma once
// Where things live on disk, and the id rules that keep every path inside the data directory
// (PROTOCOL.md invariant 4). Nothing here touches SQLite.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::store {

// ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$
bool is_valid_id(std::string_view id) noexcept;

// Throws Error(invalid_argument) naming `what` ("session id", "agent group id") and the rule.
void validate_id(std::string_view what, std::string_view id);

// A fresh id such as "sess-1772953200000-3f9a0c1d": a prefix, the time and 32 random bits.
std::string generate_id(std::string_view prefix, TimePoint now);

// The files of one session directory.
struct SessionFiles {
  std::filesystem::path dir;

  std::filesystem::path inbound() const { return dir / "inbound.db"; }
  std::filesystem::path outbound() const { return dir / "outbound.db"; }
  std::filesystem::path heartbeat() const { return dir / ".heartbeat"; }
  std::filesystem::path outbox() const { return dir / "outbox"; }
  // Held (flock) by whoever runs this session's container: see os/session_lock.hpp.
  std::filesystem::path lock() const { return dir / ".hostsweep.lock"; }
};

// DATA_DIR/hostsweep.db is the registry; DATA_DIR/sessions/<group>/<session>/ the sessions.
class DataDir {
 public:
  explicit DataDir(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const noexcept { return root_; }
  std::filesystem::path registry() const { return root_ / "hostsweep.db"; }
  std::filesystem::path sessions_root() const { return root_ / "sessions"; }

  // Validates both ids before it builds a path from them.
  SessionFiles session(std::string_view agent_group_id, std::string_view session_id) const;

 private:
  std::filesystem::path root_;
};

// The heartbeat's mtime, or nullopt when there is no heartbeat file. Throws Error(io_error)
// for any other failure to stat it.
std::optional<TimePoint> read_heartbeat(const SessionFiles& files);

}  // namespace hostsweep::store
