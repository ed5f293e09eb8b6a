#include "event_log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "json_writer.hpp"

namespace hostsweep::cli {
namespace {

using supervisor::EventKind;

spdlog::level::level_enum level_of(EventKind kind) {
  switch (kind) {
    case EventKind::container_killed:
    case EventKind::container_start_failed:
    case EventKind::message_failed:
    case EventKind::message_retried:
    case EventKind::session_backoff:
    case EventKind::session_locked_elsewhere:
    case EventKind::watch_unavailable:
    case EventKind::watch_overflow:
      return spdlog::level::warn;
    case EventKind::session_error:
    case EventKind::session_start_failing:
    case EventKind::recurrence_invalid:
      return spdlog::level::err;
    case EventKind::sweep_completed:
    case EventKind::container_cleaned_up:
      return spdlog::level::debug;
    default:
      return spdlog::level::info;
  }
}

// The fields an event carries, in a fixed order; empty ones are left out.
template <typename Put>
void fields(const supervisor::Event& e, Put&& put) {
  if (!e.message_id.empty()) put("message", e.message_id);
  if (e.pid) put("pid", std::to_string(e.pid));
  if (e.exit) {
    if (e.exit->signal) put("signal", std::to_string(e.exit->signal));
    else put("exit_code", std::to_string(e.exit->exit_code));
  }
  if (!e.stream.empty()) put("stream", e.stream);
  if (!e.reason.empty()) put("reason", e.reason);
  if (e.tries) put("tries", std::to_string(e.tries));
  if (e.failures) put("failures", std::to_string(e.failures));
  if (e.sessions) put("sessions", std::to_string(e.sessions));
  if (e.delay.count()) put("delay", policy::format_duration(e.delay));
  if (e.late_by.count()) put("late_by", policy::format_duration(e.late_by));
  if (!e.line.empty()) put("line", e.line);
  if (!e.detail.empty()) put("detail", e.detail);
  if (e.duration.count()) put("duration", policy::format_duration(e.duration));
  if (!e.stderr_tail.empty()) put("stderr_tail", e.stderr_tail);
}

}  // namespace

EventLog::EventLog(const std::string& format, const std::string& level, std::shared_ptr<spdlog::sinks::sink> sink)
    : json_(format == "json") {
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  logger_ = std::make_shared<spdlog::logger>("hostsweep", std::move(sink));
  // JSON lines carry their own timestamp; text lines get a UTC one from spdlog.
  logger_->set_pattern(json_ ? "%v" : "%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
  logger_->set_level(spdlog::level::from_str(level));
  logger_->flush_on(spdlog::level::trace);
}

void EventLog::operator()(const supervisor::Event& e) const {
  auto level = level_of(e.kind);
  if (!logger_->should_log(level)) return;
  const char* name = supervisor::event_name(e.kind);
  if (json_) {
    JsonWriter json;
    json.begin_object()
        .field("ts", policy::format_iso8601(e.at))
        .field("level", spdlog::level::to_string_view(level).data())
        .field("event", name);
    if (!e.session_id.empty()) json.field("session", e.session_id);
    fields(e, [&](const char* key, const std::string& value) {
      bool number = std::string_view(key) == "pid" || std::string_view(key) == "signal" ||
                    std::string_view(key) == "exit_code" || std::string_view(key) == "tries" ||
                    std::string_view(key) == "sessions" || std::string_view(key) == "failures";
      if (number) json.field(key, static_cast<std::int64_t>(std::stoll(value)));
      else json.field(key, value);
    });
    if (e.delay.count()) json.field("delay_ms", static_cast<std::int64_t>(e.delay.count()));
    if (e.late_by.count()) json.field("late_by_ms", static_cast<std::int64_t>(e.late_by.count()));
    json.end_object();
    logger_->log(level, "{}", json.str());
  } else {
    // Every value may come from a session file; the keys and the event name are ours.
    std::string line = name;
    if (!e.session_id.empty()) line += " session=" + escape_log_value(e.session_id);
    fields(e, [&](const char* key, const std::string& value) {
      line += fmt::format(" {}={}", key, escape_log_value(value));
    });
    logger_->log(level, "{}", line);
  }
}

void EventLog::note(const char* event, const std::string& message, bool warning) const {
  auto level = warning ? spdlog::level::warn : spdlog::level::info;
  if (json_) {
    JsonWriter json;
    json.begin_object()
        .field("ts", policy::format_iso8601(policy::now_utc()))
        .field("level", spdlog::level::to_string_view(level).data())
        .field("event", event)
        .field("message", message)
        .end_object();
    logger_->log(level, "{}", json.str());
  } else {
    logger_->log(level, "{} {}", event, escape_text(message));  // it may quote a path or an error
  }
}

}  // namespace hostsweep::cli
