#pragma once
// The daemon's log: every supervisor event becomes one line on stderr through spdlog, as text
// or as one JSON object per line with the keys ts (UTC ISO 8601, milliseconds), level, event,
// session (for session events) and the event's own fields. Every value is escaped
// (json_writer.hpp): a container's strings cannot forge a line or reach a terminal raw. The
// stderr tail of container.exited and session.start_failing is the key stderr_tail (its
// lines joined by \n, so in a text line it is quoted and its line breaks are \x0a); a
// container.output event (container-log = journal) has the keys stream and line.

#include <memory>
#include <string>

#include "hostsweep/supervisor/events.hpp"

namespace spdlog {
class logger;
namespace sinks {
class sink;
}
}  // namespace spdlog

namespace hostsweep::cli {

class EventLog {
 public:
  // `sink` is stderr unless given (tests give one that they can read).
  EventLog(const std::string& format, const std::string& level, std::shared_ptr<spdlog::sinks::sink> sink = nullptr);

  void operator()(const supervisor::Event& event) const;

  // A daemon lifecycle line that is not a supervisor event ("daemon.started", ...).
  void note(const char* event, const std::string& message, bool warning = false) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  bool json_;
};

}  // namespace hostsweep::cli
