#pragma once
// DATA_DIR/hostsweep.db: the registry of sessions (PROTOCOL.md, "This project's data
// directory"), and the creation and lookup of sessions through it.
//
// Thread-safety: free functions with no shared state; SQLite serialises writers.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hostsweep/error.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::store {

// A registry row's status: `active` sessions are supervised; `paused` ones are supervised with
// no container (pause_session); any other value (a reference installation's `closed`, say) is
// not supervised at all.
inline constexpr std::string_view kSessionActive = "active";
inline constexpr std::string_view kSessionPaused = "paused";

struct SessionRecord {
  std::string id;
  std::string agent_group_id;
  std::string status;            // kSessionActive, kSessionPaused, or another: see above
  std::string container_status;  // stopped | running | backing_off (informational)
  std::optional<std::string> last_active;
  std::string created_at;

  bool supervised() const { return status == kSessionActive || status == kSessionPaused; }
  bool paused() const { return status == kSessionPaused; }
};

struct Session {
  SessionRecord record;
  SessionFiles files;
};

// Creates a session: validates the ids (generating the session id when absent), builds its
// directory (outbox/ too) with both files and their full schemas under a temporary name,
// copies its template into it, registers it and renames it into place. A failure at any step
// leaves nothing behind. Creates the data directory and registry when missing.
// Error(already_exists) for a taken id.
//
// The template is `template_dir`, or without one the agent group's default,
// DATA_DIR/templates/<agent_group_id>/, when there is one: the files an agent needs in its
// session beside the protocol's (the reference's runner reads agent/container.json). It is
// copied recursively, regular files and directories only, never following a symlink (the
// template's own path included); a symlink, fifo, socket or device in it, or a top-level entry
// named like one of the session's own files (inbound.db, outbound.db, their journals,
// .heartbeat, outbox), is refused with Error(invalid_argument) naming it. Modes are kept
// without setuid and setgid and made readable by all (chmod a+rX), as the session's other files
// are, so that a container run as another account can read them.
Session create_session(const DataDir& data, std::string_view agent_group_id,
                       const std::optional<std::string>& session_id, TimePoint now,
                       const std::optional<std::filesystem::path>& template_dir = std::nullopt);

// DATA_DIR/templates/<agent_group_id>/: where an agent group's default template is looked for.
std::filesystem::path default_template(const DataDir& data, std::string_view agent_group_id);

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

// The sessions in the registry (only the supervised rows, `active` or `paused`, when asked),
// ordered by id. A row is bad, skipped and reported when its session id is NULL or not text,
// when its session id or agent group id is invalid (PROTOCOL.md invariant 4: never followed
// outside the data directory), or when an earlier row has the same session id (the first row
// inserted is the session; find_session agrees). With supervised_only, the other rows are
// neither listed nor judged.
// Throws only for the registry as a whole: Error(not_found) when DATA_DIR has no registry,
// Error(corrupt_file | io_error) when it cannot be read.
SessionListing list_sessions_checked(const DataDir& data, bool supervised_only);

// list_sessions_checked without the bad rows, for callers that do not report them.
std::vector<Session> list_sessions(const DataDir& data, bool supervised_only);

// Pauses (`paused` true) or resumes a session: its registry row's status becomes `paused` or
// `active`, in one transaction. A supervisor watching the registry stops a paused session's
// container (its interrupted message keeps its tries) and starts none until it is resumed; its
// messages wait. Returns false when the session was already so (nothing is written).
// Error(invalid_argument | not_found | corrupt_file) as find_session; Error(invalid_argument)
// when its status is neither `active` nor `paused` (the row is not supervised at all).
bool set_session_paused(const DataDir& data, std::string_view session_id, bool paused);

// One session by id: validates the id, looks it up, checks that its directory is a session.
// Error(invalid_argument | not_found | corrupt_file) with a message that names what is wrong;
// a bad registry row for this id is Error(corrupt_file) with the same message as in the
// listing.
Session find_session(const DataDir& data, std::string_view session_id);

}  // namespace hostsweep::store
