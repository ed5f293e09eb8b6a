// What is said on the control socket: every request gets one JSON reply (an error naming what
// is wrong for a bad one), a status reply reads back as what was sent, and strings a container
// could have written (a session's last error) cannot break the line or the JSON.
#include "cli/control_protocol.hpp"

#include <gtest/gtest.h>

#include "hostsweep/error.hpp"

namespace hostsweep::testing {
// From json_writer_test.cpp: no C0/C1 control, DEL, line separator or bidi control; valid UTF-8.
bool is_inert(std::string_view s);
}  // namespace hostsweep::testing

namespace hostsweep::cli {
namespace {

using namespace std::chrono;
using supervisor::DeadlineKind;
using supervisor::Phase;
using supervisor::SessionView;

const TimePoint kNow = TimePoint{sys_days{year{2026} / 3 / 8} + 12h};

struct Fixture {
  std::vector<SessionView> sessions;
  int reloads = 0;
  ControlActions actions() {
    return {.daemon = [] { return DaemonFacts{.pid = 42, .data_dir = "/var/lib/hostsweep", .version = "0.1.0",
                                              .started = kNow - 1h, .ready = true}; },
            .sessions = [this] { return sessions; },
            .reload = [this] { ++reloads; }};
  }
  std::string ask(std::string_view request) { return answer_control_request(request, actions(), kNow); }
};

std::string error_of(std::string_view reply) {
  try {
    expect_ok_reply(reply);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ControlProtocol, EveryBadRequestGetsOneErrorNamingWhatIsWrong) {
  Fixture f;
  EXPECT_NE(error_of(f.ask("")).find("not a JSON request"), std::string::npos);
  EXPECT_NE(error_of(f.ask("{\"op\":")).find("not a JSON request"), std::string::npos);
  EXPECT_EQ(error_of(f.ask("[1,2]")), "a request is a JSON object: {\"op\":\"status\"}");
  EXPECT_EQ(error_of(f.ask("{}")), "a request names its \"op\": status, reload or ping");
  EXPECT_EQ(error_of(f.ask("{\"op\":7}")), "a request names its \"op\": status, reload or ping");
  EXPECT_EQ(error_of(f.ask("{\"op\":\"rm -rf\"}")), "unknown op \"rm -rf\": status, reload or ping");
  EXPECT_EQ(error_of(f.ask("{\"op\":\"status\",\"session\":5}")), "\"session\" is a session id");
  EXPECT_EQ(error_of(f.ask("{\"op\":\"status\",\"session\":\"nope\"}")), "the daemon supervises no session \"nope\"");
  EXPECT_EQ(error_of(std::string(control_request_too_long(4096))), "a request line is at most 4096 bytes");
  // Deeply nested, or bytes that are not UTF-8: still one error reply, and valid JSON itself.
  auto deep = f.ask(std::string(100'000, '['));
  EXPECT_NE(error_of(deep).find("not a JSON request"), std::string::npos) << deep;
  auto garbage = f.ask("{\"op\":\"\xff\x1b[31m\"}");
  EXPECT_TRUE(testing::is_inert(garbage)) << garbage;
  EXPECT_EQ(f.reloads, 0);
}

TEST(ControlProtocol, PingAndReloadAreAnswered) {
  Fixture f;
  EXPECT_EQ(error_of(f.ask("{\"op\":\"ping\"}")), "");
  EXPECT_EQ(error_of(f.ask(reload_request())), "");
  EXPECT_EQ(f.reloads, 1);
}

TEST(ControlProtocol, AStatusReplyReadsBackAsSent) {
  Fixture f;
  f.sessions.push_back({.session_id = "a",
                        .agent_group_id = "g",
                        .phase = Phase::running,
                        .pid = 1234,
                        .next_due = kNow + 5min,
                        .watched = true,
                        .container_started = kNow - 90s,
                        .next_deadline = kNow + 29min,
                        .next_deadline_kind = DeadlineKind::liveness});
  f.sessions.push_back({.session_id = "b",
                        .agent_group_id = "g",
                        .phase = Phase::paused,
                        .start_failures = 3,
                        .backoff_until = kNow + 8s,
                        // A container's bytes in an error: a newline, an escape, invalid UTF-8.
                        .last_error = "outbound.db: \x1b[2Jbad\nline \xff\xfe",
                        .paused = true});
  auto reply = f.ask(status_request());
  EXPECT_EQ(reply.find('\n'), std::string::npos) << "one line";
  EXPECT_TRUE(testing::is_inert(reply)) << reply;
  auto live = parse_status_reply(reply);
  EXPECT_EQ(live.now, kNow);
  EXPECT_EQ(live.daemon.pid, 42);
  EXPECT_EQ(live.daemon.started, kNow - 1h);
  EXPECT_TRUE(live.daemon.ready);
  EXPECT_FALSE(live.daemon.stopping);
  ASSERT_EQ(live.sessions.size(), 2u);
  const auto& a = live.sessions[0];
  EXPECT_EQ(a.session_id, "a");
  EXPECT_EQ(a.phase, Phase::running);
  EXPECT_EQ(a.pid, 1234);
  EXPECT_EQ(a.container_started, kNow - 90s);
  EXPECT_EQ(a.next_deadline, kNow + 29min);
  EXPECT_EQ(a.next_deadline_kind, DeadlineKind::liveness);
  EXPECT_EQ(a.next_due, kNow + 5min);
  EXPECT_TRUE(a.watched);
  const auto& b = live.sessions[1];
  EXPECT_EQ(b.phase, Phase::paused);
  EXPECT_TRUE(b.paused);
  EXPECT_EQ(b.start_failures, 3);
  EXPECT_EQ(b.backoff_until, kNow + 8s);
  EXPECT_FALSE(b.next_deadline);
  // JSON carries the control characters escaped and they come back as they were (the table
  // escapes them for the terminal); the invalid bytes arrive as U+FFFD.
  EXPECT_EQ(b.last_error, "outbound.db: \x1b[2Jbad\nline \xef\xbf\xbd\xef\xbf\xbd");

  auto one = parse_status_reply(f.ask(status_request("b")));
  ASSERT_EQ(one.sessions.size(), 1u);
  EXPECT_EQ(one.sessions[0].session_id, "b");
}

TEST(ControlProtocol, AReplyThatIsNotAStatusIsOneClearError) {
  auto code_and_message = [](std::string_view reply) -> std::pair<Errc, std::string> {
    try {
      parse_status_reply(reply);
    } catch (const Error& e) {
      return {e.code(), e.what()};
    }
    return {Errc::io_error, "no error"};
  };
  auto [code, message] = code_and_message("not json");
  EXPECT_EQ(code, Errc::corrupt_file);
  EXPECT_EQ(message.rfind("the daemon's reply is not understood: ", 0), 0u) << message;
  EXPECT_EQ(code_and_message("{\"ok\":true}").second, "the daemon's reply is not understood: \"now\" is missing");
  std::tie(code, message) = code_and_message("{\"ok\":false,\"error\":\"the daemon supervises no session \\\"x\\\"\"}");
  EXPECT_EQ(code, Errc::not_found);
  EXPECT_EQ(message, "the daemon supervises no session \"x\"");
  Fixture f;
  f.sessions.push_back({.session_id = "a", .agent_group_id = "g"});
  std::string reply = f.ask(status_request());
  auto broken = reply;
  broken.replace(broken.find("\"idle\""), 6, "\"dancing\"");
  EXPECT_EQ(code_and_message(broken).second, "the daemon's reply is not understood: \"phase\" is not one of its words");
}

}  // namespace
}  // namespace hostsweep::cli
