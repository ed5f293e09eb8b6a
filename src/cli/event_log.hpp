#pragma once
// The daemon's log: every supervisor event becomes one line on stderr through spdlog, as text
// or as one JSON object per line with the keys ts (UTC ISO 8601, milliseconds), level, event,
// session (for session events) and the event's own fields.

#include <memory>
#include <string>

#include "hostsweep/supervisor/events.hpp"

namespace spdlog {
class logger;
}

namespace hostsweep::cli {

class EventLog {
 public:
  EventLog(const std::string& format, const std::string& level);

  void operator()(const supervisor::Event& event) const;

  // A daemon lifecycle line that is not a supervisor event ("daemon.started", ...).
  void note(const char* event, const std::string& message, bool warning = false) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  bool json_;
};

}  // namespace hostsweep::cli
