#pragma once
// Where things live on disk, and the id rules that keep every path inside the data directory
// (PROTOCOL.md invariant 4). Nothing here touches SQLite.

#include <sys/types.h>

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

// The files of one session: its directory, which its container can write, and the host's own
// directory for it, which no container can reach (DATA_DIR/run/sessions/<group>/<session>/,
// under a 0700 DATA_DIR/run/). What decides whom the supervisor signals, and who may run the
// session, lives only in the latter (FAILURE-MODES.md 11, 12).
//
// Kept as text: a std::filesystem::path holds each of its components apart (about 2 KiB
// for a session's two directories), and a supervisor keeps one of these per session.
class SessionFiles {
 public:
  SessionFiles() = default;
  // `host_dir` is empty for a directory that is not (yet) a registered session.
  explicit SessionFiles(const std::filesystem::path& dir, const std::filesystem::path& host_dir = {})
      : dir_(dir.native()), host_dir_(host_dir.native()) {}

  std::filesystem::path dir() const { return dir_; }
  std::filesystem::path host_dir() const { return host_dir_; }
  std::filesystem::path inbound() const { return in_dir("inbound.db"); }
  std::filesystem::path outbound() const { return in_dir("outbound.db"); }
  std::filesystem::path heartbeat() const { return in_dir(".heartbeat"); }
  std::filesystem::path outbox() const { return in_dir("outbox"); }
  // Held by whoever runs this session's container or writes its files: see os/session_lock.hpp.
  std::filesystem::path lock() const { return in_host_dir("lock"); }
  // What the supervisor that runs the container recorded about it: see os/holder_record.hpp.
  std::filesystem::path holder_record() const { return in_host_dir("holder"); }
  // What the last pass read, for the next one to judge again: see sweep/pass_memo.hpp.
  std::filesystem::path pass_memo() const { return in_host_dir("memo"); }

  friend bool operator==(const SessionFiles&, const SessionFiles&) = default;

 private:
  std::filesystem::path in_dir(std::string_view name) const { return dir() / name; }
  std::filesystem::path in_host_dir(std::string_view name) const { return host_dir() / name; }

  std::string dir_;
  std::string host_dir_;
};

// DATA_DIR/hostsweep.db is the registry; DATA_DIR/sessions/<group>/<session>/ the sessions.
class DataDir {
 public:
  explicit DataDir(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const noexcept { return root_; }
  std::filesystem::path registry() const { return root_ / "hostsweep.db"; }
  std::filesystem::path sessions_root() const { return root_ / "sessions"; }
  // The host's own state (locks, holder records), mode 0700: never visible to a container.
  std::filesystem::path run_dir() const { return root_ / "run"; }
  // The running daemon's control socket (`hostsweep status` and the operator verbs ask it).
  std::filesystem::path control_socket() const { return run_dir() / "control.sock"; }

  // Validates both ids before it builds a path from them.
  SessionFiles session(std::string_view agent_group_id, std::string_view session_id) const;

 private:
  std::filesystem::path root_;
};

// For containers run as another account (run-as-user): gives the session directory, its
// outbound.db and its outbox/ to `uid`:`gid`, which is what a container must be able to write
// (.heartbeat and journals are created in the directory); inbound.db stays the host's, readable.
// Nothing is followed: each is opened without following a symlink (a link is skipped, as the
// store refuses it anyway), and a file with a second hard link, which could be any file of the
// host, is refused. Throws Error(io_error) naming the file.
void hand_over_session(const SessionFiles& files, uid_t uid, gid_t gid);

}  // namespace hostsweep::store
