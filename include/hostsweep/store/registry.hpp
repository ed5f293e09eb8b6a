#pragma once
// DATA_DIR/hostsweep.db: the registry of sessions (PROTOCOL.md, "This project's data
// directory"), and the creation and lookup of sessions through it.
//
// Thread-safety: free functions with no shared state; SQLite serialises writers.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hostsweep/store/layout.hpp"

namespace hostsweep::store {

struct SessionRecord {
  std::string id;
  std::string agent_group_id;
  std::string status;            // `active` sessions are supervised
  std::string container_status;  // stopped | running | backing_off (informational)
  std::optional<std::string> last_active;
  std::string created_at;
};

struct Session {
  SessionRecord record;
  SessionFiles files;
};

// Creates a session: validates the ids (generating the session id when absent), builds its
// directory (outbox/ too) with both files and their full schemas under a temporary name,
// registers it and renames it into place. A failure at any step leaves nothing behind.
// Creates the data directory and registry when missing. Error(already_exists) for a taken id.
Session create_session(const DataDir& data, std::string_view agent_group_id,
                       const std::optional<std::string>& session_id, TimePoint now);

// The sessions in the registry (only `active` ones when asked), ordered by id.
// Error(not_found) when DATA_DIR has no registry.
std::vector<Session> list_sessions(const DataDir& data, bool active_only);

// One session by id: validates the id, looks it up, checks that its directory is a session.
// Error(invalid_argument | not_found | corrupt_file) with a message that names what is wrong.
Session find_session(const DataDir& data, std::string_view session_id);

}  // namespace hostsweep::store
