#pragma once
// Waits until a session's two files have versions a pass memo may be made of: a version taken
// within a few milliseconds of the file's last change is in doubt (store::FileVersion), and a
// pass keeps no memo of it. Tests about memos wait for that, with a generous timeout.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/file_version.hpp"
#include "hostsweep/store/layout.hpp"

namespace hostsweep::testing {

inline ::testing::AssertionResult wait_until_versions_sure(const store::SessionFiles& files) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto outbound = store::read_file_version(files.outbound());
    auto inbound = store::read_file_version(files.inbound());
    if (!outbound || !inbound) return ::testing::AssertionFailure() << "a session file has no version";
    if (!outbound->in_doubt && !inbound->in_doubt) return ::testing::AssertionSuccess();
    if (std::chrono::steady_clock::now() > deadline) {
      return ::testing::AssertionFailure() << "the session files' versions were still in doubt after 10 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace hostsweep::testing
