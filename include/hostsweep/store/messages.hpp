#pragma once
// Putting work in a session's inbox, and looking at it: what an embedding application does
// beside its Supervisor. Each call opens inbound.db, does one thing in one transaction and
// closes it (PROTOCOL.md invariant 3); a supervisor running at the same time sees the change
// through its file watch. Errors: hostsweep::Error (not_found, corrupt_file, io_error,
// invalid_argument, already_exists), naming the file and what is wrong.
//
// Thread-safety: the functions share no state; call them from any thread. SQLite's locking
// serialises writers across threads and processes.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hostsweep/policy/timestamp.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::store {

struct NewMessage {
  std::optional<std::string> id;  // generated when absent
  std::string kind = "chat";
  std::string content;
  std::optional<TimePoint> process_after;
  std::optional<std::string> recurrence;  // validated by the caller
  bool trigger = true;
  std::optional<std::string> platform_id;
  std::optional<std::string> channel_type;
  std::optional<std::string> thread_id;
};

struct Enqueued {
  std::string id;
  std::int64_t seq = 0;
};

// Inserts a pending message: seq = the next even number above every seq (at least 2),
// series_id = id, tries = 0, timestamp = now. A taken id is Error(already_exists).
Enqueued enqueue(const SessionFiles& files, const NewMessage& message, TimePoint now);

// What a session's inbox holds, as of one instant.
struct InboundSummary {
  std::map<std::string, int> count_by_status;
  std::vector<std::string> due_ids;        // pending, trigger = 1, process_after absent or <= now
  std::optional<TimePoint> next_due;       // the earliest process_after in the future among those
  std::optional<TimePoint> due_since;      // the latest process_after among due_ids: when the last came due
  std::vector<std::string> unreadable_ids;  // process_after unparseable: counted as due, never lost
};

// What waits in the inbox at `now`. Reads only, but for the schema upgrade of a file an older
// version wrote.
InboundSummary summarize_inbound(const SessionFiles& files, TimePoint now);

// One message as the inbox holds it.
struct MessageInfo {
  std::string id;
  std::string status;  // "pending", "completed", "failed", "paused" ("unknown" for any other text)
  int tries = 0;       // failed attempts so far (a container that died holding it)
  std::optional<std::string> process_after;  // as written
};

// The message `id`, or nullopt when the inbox has none. Reads only (and see summarize_inbound).
std::optional<MessageInfo> find_message(const SessionFiles& files, const std::string& id);

}  // namespace hostsweep::store
