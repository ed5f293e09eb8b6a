// The control socket's protocol on any bytes (cli/control_protocol.hpp): as a request, it gets
// exactly one reply line that reads back as {"ok":...}, and never the status of a session that
// was not asked for; as a reply, it reads back as a status or throws hostsweep::Error, nothing
// else; a status that reads back is written out again and reads back the same.
#include "cli/control_protocol.hpp"
#include "cli/json_writer.hpp"
#include "fuzz_check.hpp"
#include "hostsweep/error.hpp"

using namespace hostsweep;

namespace {

const TimePoint kNow = TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 3 / 8}};

cli::ControlActions actions() {
  return {.daemon = [] { return cli::DaemonFacts{.pid = 1, .data_dir = "/d", .version = "0", .started = kNow}; },
          .sessions =
              [] {
                return std::vector<supervisor::SessionView>{
                    {.session_id = "a", .agent_group_id = "g", .pid = 7, .last_error = "x\n\x1b\xff"},
                    {.session_id = "b", .agent_group_id = "g", .phase = supervisor::Phase::paused, .paused = true}};
              },
          .reload = [] {}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  static const auto kActions = actions();
  const std::string reply = cli::answer_control_request(text, kActions, kNow);
  fuzz::check(reply.find('\n') == std::string::npos, "a reply of more than one line", reply);
  try {
    cli::expect_ok_reply(reply);
  } catch (const Error& e) {
    fuzz::check(e.code() == Errc::not_found, "a refusal that is not the daemon's own error", reply);
  }

  try {
    auto live = cli::parse_status_reply(text);
    cli::JsonWriter w;
    w.begin_object().field("ok", true);
    cli::write_live_status_fields(w, live);
    w.end_object();
    auto again = cli::parse_status_reply(w.str());
    fuzz::check(again.sessions.size() == live.sessions.size() && again.daemon.pid == live.daemon.pid,
                "a status that does not read back the same", w.str());
  } catch (const Error&) {
  }
  return 0;
}
