// Where a container's stdout and stderr go: the container-log setting made into the sink of
// its runtime::ContainerOutput.
#include <fmt/format.h>

#include "os/log_file.hpp"
#include "supervisor_impl.hpp"

namespace hostsweep::supervisor {

// The pipes for a container's stdout and stderr, and where their lines go. A log file that
// cannot be opened (a symlink planted in its place, a full disk) is reported and the output
// dropped: the container still runs, and still cannot block on a full pipe.
std::unique_ptr<runtime::ContainerOutput> Supervisor::Impl::open_output(Session& s) {
  const auto& log = options_.container_log;
  std::unique_ptr<runtime::OutputSink> sink;
  switch (log.mode) {
    case ContainerLogMode::file:
      try {
        sink = runtime::file_sink(
            std::make_unique<os::RotatingLogFile>(data_.root(), s.agent_group_id, s.id, log.max_bytes, log.keep));
      } catch (const Error& e) {
        emit_for(s, EventKind::session_error, e.what());
      }
      break;
    case ContainerLogMode::journal: {
      auto rate = std::make_shared<policy::LineRate>(log.journal_lines_per_second);
      sink = runtime::callback_sink([weak = weak_from_this(), id = s.id, rate](policy::OutputStream stream, bool,
                                                                             std::string_view content) {
        auto self = weak.lock();
        if (!self) return;
        std::uint64_t dropped = 0;
        auto since_start = std::chrono::duration_cast<Duration>(self->clock_->steady_now().time_since_epoch());
        if (!rate->admit(since_start, dropped)) return;
        std::string line;
        if (dropped) line = fmt::format("[{} lines dropped: over the rate limit] ", dropped);
        policy::escape_output(line, content);
        Session* found = self->find(id);
        self->emit({.kind = EventKind::container_output,
                    .session_id = id,
                    .pid = found && found->child ? found->child->pid() : 0,
                    .stream = policy::to_string(stream),
                    .line = std::move(line)});
      });
      break;
    }
    case ContainerLogMode::off:
      break;
  }
  if (!sink) sink = runtime::discard_sink();
  return std::make_unique<runtime::ContainerOutput>(home_, std::move(sink), [clock = clock_] { return clock->wall_now(); });
}

}  // namespace hostsweep::supervisor
