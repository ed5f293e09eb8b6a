#include "control_protocol.hpp"

// Boost.JSON, header-only: its implementation is compiled here, in this one file.
#include <boost/json/src.hpp>

#include <algorithm>
#include <array>
#include <limits>

#include <fmt/format.h>

#include "hostsweep/error.hpp"
#include "json_writer.hpp"

namespace hostsweep::cli {
namespace {

namespace json = boost::json;
using supervisor::DeadlineKind;
using supervisor::Phase;
using supervisor::SessionView;

std::string error_reply(std::string_view what) {
  JsonWriter w;
  w.begin_object().field("ok", false).field("error", what).end_object();
  return w.str();
}

std::string ok_reply() {
  JsonWriter w;
  w.begin_object().field("ok", true).end_object();
  return w.str();
}

void put_time(JsonWriter& w, std::string_view key, const std::optional<TimePoint>& t) {
  w.key(key);
  t ? w.value(policy::format_iso8601(*t)) : w.null();
}

void write_session(JsonWriter& w, const SessionView& v, TimePoint now) {
  w.begin_object()
      .field("id", v.session_id)
      .field("agent_group_id", v.agent_group_id)
      .field("phase", supervisor::to_string(v.phase))
      .field("paused", v.paused)
      .field("pid", v.pid);
  put_time(w, "container_started", v.container_started);
  w.key("uptime_ms");
  v.container_started ? w.value(static_cast<std::int64_t>(std::max(Duration{0}, now - *v.container_started).count())) : w.null();
  put_time(w, "next_deadline", v.next_deadline);
  w.key("next_deadline_kind");
  v.next_deadline ? w.value(supervisor::to_string(v.next_deadline_kind)) : w.null();
  put_time(w, "next_due", v.next_due);
  put_time(w, "backoff_until", v.backoff_until);
  w.field("start_failures", v.start_failures).field("watched", v.watched).field("last_error", v.last_error);
  w.end_object();
}

std::string status_reply(const ControlActions& actions, const std::optional<std::string>& only, TimePoint now) {
  LiveStatus live{.now = now, .daemon = actions.daemon(), .sessions = actions.sessions()};
  if (only) {
    auto& all = live.sessions;
    auto it = std::find_if(all.begin(), all.end(), [&](const SessionView& v) { return v.session_id == *only; });
    if (it == all.end()) return error_reply(fmt::format("the daemon supervises no session \"{}\"", *only));
    all = {*it};
  }
  JsonWriter w;
  w.begin_object().field("ok", true);
  write_live_status_fields(w, live);
  w.end_object();
  return w.str();
}

// --- reading replies --------------------------------------------------------------------------

[[noreturn]] void bad_reply(std::string_view what) {
  throw Error(Errc::corrupt_file, fmt::format("the daemon's reply is not understood: {}", what));
}

const json::object& object_of(const json::value& v, std::string_view what) {
  if (!v.is_object()) bad_reply(fmt::format("{} is not an object", what));
  return v.get_object();
}

const json::value* member(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

std::string string_of(const json::object& o, std::string_view key) {
  auto* v = member(o, key);
  if (!v || !v->is_string()) bad_reply(fmt::format("\"{}\" is not a string", key));
  return std::string(v->get_string());
}

bool bool_of(const json::object& o, std::string_view key) {
  auto* v = member(o, key);
  if (!v || !v->is_bool()) bad_reply(fmt::format("\"{}\" is not true or false", key));
  return v->get_bool();
}

int int_of(const json::object& o, std::string_view key) {
  auto* v = member(o, key);
  if (!v || !v->is_int64() || v->get_int64() < 0 || v->get_int64() > std::numeric_limits<int>::max()) {
    bad_reply(fmt::format("\"{}\" is not a count", key));
  }
  return static_cast<int>(v->get_int64());
}

std::optional<TimePoint> time_of(const json::object& o, std::string_view key) {
  auto* v = member(o, key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) bad_reply(fmt::format("\"{}\" is not a time", key));
  auto t = policy::parse_timestamp(std::string_view(v->get_string()));
  if (!t) bad_reply(fmt::format("\"{}\" is not a time", key));
  return t;
}

template <typename Enum, std::size_t N>
Enum enum_of(const json::object& o, std::string_view key, const std::array<Enum, N>& values) {
  const std::string text = string_of(o, key);
  for (Enum e : values) {
    if (text == supervisor::to_string(e)) return e;
  }
  bad_reply(fmt::format("\"{}\" is not one of its words", key));
}

constexpr std::array kPhases{Phase::idle, Phase::running, Phase::stopping, Phase::backing_off, Phase::paused};
constexpr std::array kDeadlines{DeadlineKind::due, DeadlineKind::liveness, DeadlineKind::kill_grace, DeadlineKind::backoff,
                                DeadlineKind::retry};

SessionView session_of(const json::object& o) {
  SessionView v;
  v.session_id = string_of(o, "id");
  v.agent_group_id = string_of(o, "agent_group_id");
  v.phase = enum_of(o, "phase", kPhases);
  v.paused = bool_of(o, "paused");
  v.pid = int_of(o, "pid");
  v.container_started = time_of(o, "container_started");
  v.next_deadline = time_of(o, "next_deadline");
  if (v.next_deadline) v.next_deadline_kind = enum_of(o, "next_deadline_kind", kDeadlines);
  v.next_due = time_of(o, "next_due");
  v.backoff_until = time_of(o, "backoff_until");
  v.start_failures = int_of(o, "start_failures");
  v.watched = bool_of(o, "watched");
  v.last_error = string_of(o, "last_error");
  return v;
}

// The reply as an object whose "ok" is true; the daemon's own error otherwise.
json::value parse_ok(std::string_view reply) {
  boost::system::error_code ec;
  json::value v = json::parse(reply, ec);
  if (ec) bad_reply(ec.message());
  const auto& o = object_of(v, "the reply");
  if (!bool_of(o, "ok")) {
    auto* error = member(o, "error");
    throw Error(Errc::not_found, error && error->is_string() ? std::string(error->get_string()) : "the daemon refused the request");
  }
  return v;
}

}  // namespace

void write_live_status_fields(JsonWriter& w, const LiveStatus& live) {
  const DaemonFacts& d = live.daemon;
  w.field("now", policy::format_iso8601(live.now));
  w.key("daemon")
      .begin_object()
      .field("pid", d.pid)
      .field("data_dir", d.data_dir)
      .field("version", d.version)
      .field("started", policy::format_iso8601(d.started))
      .field("ready", d.ready)
      .field("stopping", d.stopping)
      .end_object();
  w.key("sessions").begin_array();
  for (const auto& v : live.sessions) write_session(w, v, live.now);
  w.end_array();
}

std::string answer_control_request(std::string_view request, const ControlActions& actions, TimePoint now) {
  try {
    boost::system::error_code ec;
    json::value v = json::parse(request, ec);
    if (ec) return error_reply(fmt::format("not a JSON request: {}", ec.message()));
    if (!v.is_object()) return error_reply("a request is a JSON object: {\"op\":\"status\"}");
    const auto& o = v.get_object();
    auto* op = member(o, "op");
    if (!op || !op->is_string()) return error_reply("a request names its \"op\": status, reload or ping");
    std::optional<std::string> session;
    if (auto* s = member(o, "session"); s && !s->is_null()) {
      if (!s->is_string()) return error_reply("\"session\" is a session id");
      session = std::string(s->get_string());
    }
    const std::string_view name = op->get_string();
    if (name == "status") return status_reply(actions, session, now);
    if (name == "reload") {
      actions.reload();
      return ok_reply();
    }
    if (name == "ping") return ok_reply();
    return error_reply(fmt::format("unknown op \"{}\": status, reload or ping", name));
  } catch (const std::exception& e) {
    return error_reply(e.what());  // an allocation, mostly: the request is answered all the same
  }
}

std::string control_request_too_long(std::size_t limit) {
  return error_reply(fmt::format("a request line is at most {} bytes", limit));
}

std::string status_request(const std::optional<std::string>& session) {
  JsonWriter w;
  w.begin_object().field("op", "status");
  if (session) w.field("session", *session);
  w.end_object();
  return w.str();
}

std::string reload_request() {
  JsonWriter w;
  w.begin_object().field("op", "reload").end_object();
  return w.str();
}

LiveStatus parse_status_reply(std::string_view reply) {
  json::value v = parse_ok(reply);
  const auto& o = v.get_object();
  LiveStatus out;
  auto now = time_of(o, "now");
  if (!now) bad_reply("\"now\" is missing");
  out.now = *now;
  auto* daemon = member(o, "daemon");
  if (!daemon) bad_reply("\"daemon\" is missing");
  const auto& d = object_of(*daemon, "\"daemon\"");
  out.daemon.pid = int_of(d, "pid");
  out.daemon.data_dir = string_of(d, "data_dir");
  out.daemon.version = string_of(d, "version");
  auto started = time_of(d, "started");
  if (!started) bad_reply("\"started\" is missing");
  out.daemon.started = *started;
  out.daemon.ready = bool_of(d, "ready");
  out.daemon.stopping = bool_of(d, "stopping");
  auto* sessions = member(o, "sessions");
  if (!sessions || !sessions->is_array()) bad_reply("\"sessions\" is not an array");
  for (const auto& s : sessions->get_array()) out.sessions.push_back(session_of(object_of(s, "a session")));
  return out;
}

void expect_ok_reply(std::string_view reply) { parse_ok(reply); }

const char* deadline_meaning(DeadlineKind kind) noexcept {
  switch (kind) {
    case DeadlineKind::due: return "work comes due";
    case DeadlineKind::liveness: return "liveness: kill if stuck, stop if idle";
    case DeadlineKind::kill_grace: return "kill grace ends: SIGKILL";
    case DeadlineKind::backoff: return "start backoff ends";
    case DeadlineKind::retry: return "look again";
  }
  return "unknown";
}

}  // namespace hostsweep::cli
