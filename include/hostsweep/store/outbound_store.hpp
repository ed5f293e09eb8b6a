#pragma once
// The host's side of a session's outbound.db: it reads it read-only, and writes it only to
// delete orphan claims, which requires proof that no container runs (PROTOCOL.md invariant 1).
//
// Thread-safety: free functions with no shared state.

#include <optional>
#include <string>
#include <vector>

#include "hostsweep/os/session_lock.hpp"
#include "hostsweep/policy/stuck_policy.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::store {

struct OutboundSnapshot {
  bool exists = false;                   // false: no outbound.db yet; nothing else is set
  bool complete = false;                 // every table of the schema is there (ensure_outbound has nothing to do)
  std::vector<policy::AckFact> acks;     // every processing_ack row
  std::optional<policy::ToolFact> tool;  // container_state row 1; nullopt when table or row is missing
};

// Read-only. Throws Error(corrupt_file) when the file exists but is not a database.
OutboundSnapshot read_outbound(const SessionFiles& files);

// Deletes the `processing` rows of these messages (completed and failed acks stay). The lock
// argument is the proof that no container of this session runs while the host writes.
// Returns how many rows it deleted.
int delete_orphan_claims(const SessionFiles& files, const std::vector<std::string>& message_ids,
                         const os::SessionLock& held);

// Creates outbound.db with the full schema if it is missing (a container refuses to start
// without processing_ack). Also requires the lock.
void ensure_outbound(const SessionFiles& files, const os::SessionLock& held);

}  // namespace hostsweep::store
