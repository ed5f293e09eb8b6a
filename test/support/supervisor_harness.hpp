#pragma once
// The project's tests drive the supervisor through the installed test kit
// (hostsweep/testing/harness.hpp), with GoogleTest's reporting on top: a wait returns whether it
// held, for an ASSERT or EXPECT with the story; a stop that does not complete is a test failure.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hostsweep/testing/harness.hpp"
#include "store/inbound_store.hpp"

namespace hostsweep::testing {

using namespace std::chrono_literals;

inline supervisor::SupervisorOptions fast_options() { return fast_options(HOSTSWEEP_FAKE_AGENT_PATH); }

class SupervisorHarness : public Harness {
 public:
  explicit SupervisorHarness(supervisor::SupervisorOptions options = fast_options()) : Harness(std::move(options)) {}
  ~SupervisorHarness() override {
    if (running()) stop();
  }

  // The kit's stop(), its failure reported to GoogleTest rather than thrown.
  void stop(std::chrono::milliseconds timeout = 20s) {
    try {
      Harness::stop(timeout);
    } catch (const Failure& failure) {
      ADD_FAILURE() << failure.what();
    }
  }
  bool supervisor_stopped_with_abandoned_work() const {
    return stop_result() == supervisor::stop_errc::abandoned_work;
  }

  using Harness::wait_for;
  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 15s) {
    return run_until(done, timeout);
  }

  // The message's retry-relevant state as the store reads it (unknown when absent).
  policy::MessageState message(const std::string& session, const std::string& id) {
    auto states = store::read_message_states(files(session), {id});
    return states.count(id) ? states.at(id) : policy::MessageState{id, policy::MessageStatus::unknown, 0, std::nullopt};
  }

  bool wait_for_status(const std::string& session, const std::string& id, const std::string& status,
                       std::chrono::milliseconds timeout = 15s) {
    return wait_for([&] { return policy::to_string(message(session, id).status) == status; }, timeout);
  }
};

// The story every runtime must tell: a container dies holding its claim, and the message is
// retried once and completed by the next container. Returns how the first container ended.
inline std::optional<runtime::ExitStatus> expect_crash_is_retried_and_completed(SupervisorHarness& h) {
  using supervisor::EventKind;
  h.create_session("s1", {"crash-after-claim", "normal"});
  h.start();
  auto id = h.enqueue("s1");
  EXPECT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
  EXPECT_EQ(h.message("s1", id).tries, 1);
  EXPECT_EQ(h.count(EventKind::message_retried, "s1"), 1) << h.story();
  EXPECT_EQ(h.count(EventKind::container_started, "s1"), 2) << h.story();
  // Each end is cleaned up, after its exit (metrics' exit_to_cleanup).
  EXPECT_TRUE(h.wait_for([&] {
    return h.count(EventKind::container_cleaned_up, "s1") == h.count(EventKind::container_exited, "s1");
  })) << h.story();
  auto exited = h.of(EventKind::container_exited);
  auto cleaned = h.of(EventKind::container_cleaned_up);
  if (!exited.empty() && !cleaned.empty()) {
    EXPECT_LE(exited.front().at, cleaned.front().at);
  }
  if (exited.empty()) {
    ADD_FAILURE() << "no container exited\n" << h.story();
    return std::nullopt;
  }
  return exited.front().exit;
}

}  // namespace hostsweep::testing
