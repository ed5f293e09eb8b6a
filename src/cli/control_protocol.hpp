#pragma once
// What is said on the daemon's control socket (ops/control_socket.hpp is the transport): one
// JSON object per line each way.
//
//   {"op":"status"}                -> {"ok":true,"now":T,"daemon":{...},"sessions":[{...},...]}
//   {"op":"status","session":"S"}  -> the same with session S only ({"ok":false,...} when unknown)
//   {"op":"reload"}                -> {"ok":true}: the daemon reads the registry again now (a
//                                     session created, paused or resumed is acted on at once,
//                                     with or without inotify)
//   {"op":"ping"}                  -> {"ok":true}
//   anything else                  -> {"ok":false,"error":"<what is wrong>"}
//
// The daemon answers from its views in memory (Supervisor::sessions()): never a database read.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hostsweep/supervisor/supervisor.hpp"

namespace hostsweep::cli {

class JsonWriter;

struct DaemonFacts {
  int pid = 0;
  std::string data_dir;
  std::string version;
  TimePoint started{};
  bool ready = false;     // its first sweep is done
  bool stopping = false;  // a stop signal came
};

// What the daemon's side answers with.
struct ControlActions {
  std::function<DaemonFacts()> daemon;
  std::function<std::vector<supervisor::SessionView>()> sessions;
  std::function<void()> reload;
};

// The reply line to one request line (the daemon's side). Never throws for any request bytes.
std::string answer_control_request(std::string_view request, const ControlActions& actions, TimePoint now);
// The reply to a request line longer than `limit` bytes.
std::string control_request_too_long(std::size_t limit);

// A request line (the client's side).
std::string status_request(const std::optional<std::string>& session = std::nullopt);
std::string reload_request();

// A status reply, read back (the client's side).
struct LiveStatus {
  TimePoint now{};
  DaemonFacts daemon;
  std::vector<supervisor::SessionView> sessions;
};
// Its fields (now, daemon, sessions) into an object `w` has open: the daemon's reply, and
// `status --json` from a daemon.
void write_live_status_fields(JsonWriter& w, const LiveStatus& live);
// Error(corrupt_file) naming what is wrong when `reply` is not a status reply; Error(not_found)
// with the daemon's words when it answered {"ok":false}.
LiveStatus parse_status_reply(std::string_view reply);
// Error as above when `reply` is not {"ok":true}.
void expect_ok_reply(std::string_view reply);

// What a deadline of this kind does when it comes, for people.
const char* deadline_meaning(supervisor::DeadlineKind kind) noexcept;

}  // namespace hostsweep::cli
