#include "runtime/container_output.hpp"

#include <signal.h>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "runtime/child_process.hpp"

namespace hostsweep::runtime {
namespace {

using namespace std::chrono_literals;
using policy::OutputStream;

struct Captured {
  std::vector<std::string> out, err;
};

struct Fixture {
  boost::asio::io_context io;

  std::unique_ptr<ContainerOutput> output(Captured& c) {
    return std::make_unique<ContainerOutput>(
        io.get_executor(),
        callback_sink([&c](OutputStream s, bool, std::string_view line) {
          (s == OutputStream::out ? c.out : c.err).emplace_back(line);
        }),
        [] { return policy::now_utc(); });
  }

  std::unique_ptr<ChildProcess> spawn(ContainerOutput& out, const std::string& script) {
    std::error_code ec;
    SpawnOptions options{.stdout_fd = out.child_stdout(), .stderr_fd = out.child_stderr()};
    auto child = ChildProcess::start(io.get_executor(), {"/bin/sh", "-c", script}, options, ec);
    EXPECT_TRUE(child) << ec.message();
    out.start();
    return child;
  }

  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.restart();
      io.run_for(5ms);
    }
    return true;
  }

  // The child has exited, and what its pipes still held has been read.
  bool exit_and_drain(ChildProcess& child, ContainerOutput& out) {
    wait_exit(child);
    bool drained = false;
    out.drain([&] { drained = true; });
    return wait_for([&] { return drained; });
  }

  ExitStatus wait_exit(ChildProcess& child) {
    std::optional<ExitStatus> status;
    child.async_wait([&](std::error_code, ExitStatus s) { status = s; });
    EXPECT_TRUE(wait_for([&] { return status.has_value(); }));
    child.reap();
    return status.value_or(ExitStatus{});
  }
};

TEST(ContainerOutput, ReadsBothStreamsLineByLine) {
  Fixture f;
  Captured c;
  auto out = f.output(c);
  auto child = f.spawn(*out, "echo one; echo two >&2; printf 'three'; exit 0");
  ASSERT_TRUE(f.exit_and_drain(*child, *out));
  bool closed = false;
  out->close_after(10s, [&] { closed = true; });
  ASSERT_TRUE(f.wait_for([&] { return closed; }));  // both pipes ended: at once, not after 10 s
  EXPECT_EQ(c.out, (std::vector<std::string>{"one", "three"}));
  EXPECT_EQ(c.err, (std::vector<std::string>{"two"}));
  EXPECT_EQ(out->stderr_tail(), "two");
}

TEST(ContainerOutput, DrainGetsTheLastWordsBeforeTheTailIsTaken) {
  Fixture f;
  Captured c;
  auto out = f.output(c);
  auto child = f.spawn(*out, "i=0; while [ $i -lt 50 ]; do echo \"line $i\" >&2; i=$((i+1)); done; echo 'fatal: the end' >&2");
  ASSERT_TRUE(f.exit_and_drain(*child, *out));
  auto tail = out->stderr_tail();
  EXPECT_EQ(tail.substr(tail.rfind('\n') + 1), "fatal: the end") << tail;
}

// A grandchild keeps the write ends open after the child has exited: the reader closes after
// its grace, and the writer's next write fails (its problem).
TEST(ContainerOutput, AGrandchildHoldingThePipeIsCutOffAfterTheGrace) {
  Fixture f;
  Captured c;
  auto out = f.output(c);
  auto child = f.spawn(*out, "(trap '' PIPE; while :; do echo held || exit 0; sleep 0.02; done) & echo started");
  f.wait_exit(*child);
  ASSERT_TRUE(f.wait_for([&] { return c.out.size() >= 3; })) << c.out.size();
  bool closed = false;
  out->close_after(100ms, [&] { closed = true; });
  ASSERT_TRUE(f.wait_for([&] { return closed; }));
  EXPECT_TRUE(out->closed());
}

// The write ends are close-on-exec and closed by the supervisor after the spawn: a second
// container inherits only fds 0, 1 and 2, and the first one's pipes end when it exits even
// while the second still runs.
TEST(ContainerOutput, PipesDoNotLeakIntoOtherContainers) {
  Fixture f;
  Captured a, b;
  auto out_a = f.output(a);
  auto child_a = f.spawn(*out_a, "read x; echo a-done");  // stdin is /dev/null: returns at once
  auto out_b = f.output(b);
  auto child_b = f.spawn(*out_b, "ls /proc/self/fd | tr '\\n' ' '; sleep 3");
  f.wait_exit(*child_a);
  bool closed = false;
  out_a->close_after(20s, [&] { closed = true; });
  // Ends on its own (well within the 20 s grace) since nobody else holds its write ends.
  ASSERT_TRUE(f.wait_for([&] { return closed; }, 15s));
  EXPECT_EQ(a.out, (std::vector<std::string>{"a-done"}));
  ASSERT_TRUE(f.wait_for([&] { return !b.out.empty() || out_b->closed(); }));
  f.wait_exit(*child_b);
  bool closed_b = false;
  out_b->close_after(5s, [&] { closed_b = true; });
  ASSERT_TRUE(f.wait_for([&] { return closed_b; }));
  ASSERT_FALSE(b.out.empty());
  // 3 is the directory ls itself opened to list them.
  EXPECT_EQ(b.out.front(), "0 1 2 3 ");
}

TEST(ContainerOutput, DestroyedWhileReadingItClosesAndNothingDangles) {
  Fixture f;
  Captured c;
  auto out = f.output(c);
  auto child = f.spawn(*out, "yes flood");
  ASSERT_TRUE(f.wait_for([&] { return c.out.size() > 100; }));
  out.reset();
  f.wait_for([] { return false; }, 50ms);  // the aborted reads complete
  child->signal(SIGKILL);
  f.wait_exit(*child);
}

}  // namespace
}  // namespace hostsweep::runtime
