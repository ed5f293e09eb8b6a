#pragma once
// The host's side of what a session's container writes: outbound.db, which the host reads
// read-only and writes only to delete orphan claims, which requires proof that no container
// runs (PROTOCOL.md invariant 1); and .heartbeat.
//
// The container is untrusted (FAILURE-MODES.md): every open refuses an outbound.db, or a
// journal beside it, that is a symlink or not a regular file, with one error that names it
// ("<dir>/outbound.db is a symlink: refused"); nothing outside the session is read or written
// on its word. A heartbeat is judged with lstat, never through a link.
//
// Thread-safety: free functions with no shared state.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hostsweep/error.hpp"
#include "os/session_lock.hpp"
#include "policy/status.hpp"
#include "policy/stuck_policy.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::store {

struct OutboundSnapshot {
  bool exists = false;                   // false: no outbound.db yet; nothing else is set
  bool complete = false;                 // every table of the schema is there (ensure_outbound has nothing to do)
  std::vector<policy::Ack> acks;         // every processing_ack row (but see OutboundReadOptions::pending_ids)
  std::optional<policy::ToolFact> tool;  // container_state row 1; nullopt when table or row is missing
};

// A bigger outbound.db is not read: its rows would all be held in memory.
inline constexpr std::int64_t kMaxOutboundBytes = std::int64_t{256} << 20;  // 256 MiB

struct OutboundReadOptions {
  std::int64_t max_bytes = kMaxOutboundBytes;
  // Set: `acks` keeps only the rows a pass can act on, not the settled history (a million
  // acks held ~180 MB, and as many again to settle them): every row that is not completed or
  // failed (the claims); the completed and failed rows of these messages, which should be the
  // ones still pending in inbound.db (InboundDb::pending_ids), the only ones a settlement can
  // change; and of the others, the one with the latest status_changed, the latest sign of life
  // they give. policy::decide_settlements, claimed_ids and decide_stuck decide the same on it.
  // Such a snapshot was filtered by the inbound.db read before it: do not reuse it once
  // inbound.db has changed.
  std::optional<std::vector<std::string>> pending_ids;
};

// Read-only. A missing file is a snapshot with exists = false. Throws Error(corrupt_file) when
// the file is not a database, is a symlink or not a regular file, has a journal beside it that
// is one, or is bigger than options.max_bytes ("<dir>/outbound.db is 300 MiB, over the 256 MiB
// cap: not read"); Error(io_error) "... has a hot journal ..." when a writer died in the middle
// of a transaction (FAILURE-MODES.md 14), which a read-only connection cannot roll back: see the
// overload below.
OutboundSnapshot read_outbound(const SessionFiles& files, const OutboundReadOptions& options = {});

// What read_outbound throws for a hot journal (an Error of io_error): a state that the end of
// the writer's container undoes, unlike a corrupt or refused file.
class HotJournal : public Error {
 public:
  using Error::Error;
};

// The same, for a caller that holds the session lock while no container of this session runs
// (the lock argument is that proof, as for delete_orphan_claims): a hot journal left by a
// container killed mid-commit is rolled back (the file is opened read-write for that, and only
// then: closing a file opened for writing wakes the supervisor's watch), then the file is read.
OutboundSnapshot read_outbound(const SessionFiles& files, const os::SessionLock& held,
                               const OutboundReadOptions& options = {});

// Deletes the `processing` rows of these messages (completed and failed acks stay). The lock
// argument is the proof that no container of this session runs while the host writes.
// Returns how many rows it deleted.
int delete_orphan_claims(const SessionFiles& files, const std::vector<std::string>& message_ids,
                         const os::SessionLock& held);

// Deletes every processing_ack row of these messages, whatever its status: for an operator's
// retry of a failed message (`hostsweep message retry`), whose failed ack would otherwise
// settle it again at the next sync. Also requires the lock. A missing outbound.db has no acks:
// 0. Returns how many rows it deleted.
int delete_acks(const SessionFiles& files, const std::vector<std::string>& message_ids, const os::SessionLock& held);

// Creates outbound.db with the full schema if it is missing (a container refuses to start
// without processing_ack). Also requires the lock.
void ensure_outbound(const SessionFiles& files, const os::SessionLock& held);

// The heartbeat's mtime when .heartbeat is a regular file. nullopt when it is missing, and when
// it is anything else: a symlink (its target could be any host file, with any mtime), a
// directory, a fifo are no sign of life. Never follows a link. Throws Error(io_error) for any
// other failure to lstat it.
std::optional<TimePoint> read_heartbeat(const SessionFiles& files);

struct HeartbeatRemoval {
  bool removed = false;                // a file, or a symlink itself (never its target), was unlinked
  std::optional<std::string> problem;  // what was left, and why: "<dir>/.heartbeat is a directory: left in place"
};

// Removes a predecessor's .heartbeat before a container starts (FAILURE-MODES.md 1) with
// unlink(2), which removes a symlink itself and never what it points at; a directory is
// reported, never removed or entered. A missing heartbeat is nothing to do. Never throws
// hostsweep::Error: the start goes on, and `problem` says what to log.
HeartbeatRemoval remove_stale_heartbeat(const SessionFiles& files);

}  // namespace hostsweep::store
