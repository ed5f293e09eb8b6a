#pragma once
// DATA_DIR/hostsweep.db: the registry of sessions (PROTOCOL.md, "This project's data
// directory"), and the creation and lookup of sessions through it.
//
// Thread-safety: free functions with no shared state; SQLite serialises writers.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hostsweep/error.hpp"
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

// What the registry holds: the sessions that can be supervised, and one error for each row
// that cannot, so that one bad row never stops the others (FAILURE-MODES.md 20).
struct SessionListing {
  std::vector<Session> sessions;  // ordered by id
  // Error(corrupt_file), one per bad row, in the order of the rows (by id, then insertion).
  // Each message names the row ("<registry> row 7: ...", with the session id when it is
  // valid) and says what is wrong with it. An invalid id is quoted as validate_id quotes it:
  // C0 controls and DEL escaped, at most 140 bytes; other bytes as they are, so a log or
  // terminal must still escape the message (the CLI's escape_text, the daemon's log).
  std::vector<Error> bad_rows;
};

// The sessions in the registry (only the rows whose status is `active` when asked), ordered
// by id. A row is bad, skipped and reported when its session id is NULL or not text, when
// its session id or agent group id is invalid (PROTOCOL.md invariant 4: never followed
// outside the data directory), or when an earlier row has the same session id (the first row
// inserted is the session; find_session agrees). With active_only, rows that are not active
// are neither listed nor judged.
// Throws only for the registry as a whole: Error(not_found) when DATA_DIR has no registry,
// Error(corrupt_file | io_error) when it cannot be read.
SessionListing list_sessions_checked(const DataDir& data, bool active_only);

// list_sessions_checked without the bad rows, for callers that do not report them.
std::vector<Session> list_sessions(const DataDir& data, bool active_only);

// One session by id: validates the id, looks it up, checks that its directory is a session.
// Error(invalid_argument | not_found | corrupt_file) with a message that names what is wrong;
// a bad registry row for this id is Error(corrupt_file) with the same message as in the
// listing.
Session find_session(const DataDir& data, std::string_view session_id);

}  // namespace hostsweep::store
