// The supervisor as an embedding Asio program sees it (issue 11, "The API"): async_stop with
// every kind of completion token and with per-operation cancellation, get_executor(), calls
// from another thread, events delivered through a post (so a handler may stop or destroy the
// supervisor), request_check on a session the supervisor does not know yet, and options refused
// at construction. Real containers (the fake agent); waits are for events, with generous
// timeouts, and a wait that times out fails the test.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "hostsweep/error.hpp"
#include "store/outbound_store.hpp"
#include "support/file_swap.hpp"
#include "support/supervisor_harness.hpp"

namespace hostsweep::testing {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using supervisor::EventKind;
using supervisor::stop_errc;

// A session whose container is running and has finished its first message.
void run_one_message(SupervisorHarness& h, const std::vector<std::string>& script = {"normal"}) {
  h.create_session("s1", script);
  h.start();
  auto id = h.enqueue("s1");
  ASSERT_TRUE(h.wait_for_status("s1", id, "completed")) << h.story();
}

// Runs the loop until the stop's handler has run; fails the test when it did not in time.
template <typename Ready>
void expect_completes(SupervisorHarness& h, Ready&& ready, const char* what) {
  EXPECT_TRUE(h.wait_for(std::forward<Ready>(ready), 20s)) << what << ": the stop did not complete\n" << h.story();
}

TEST(Embedding, GetExecutorIsTheConstructorsExecutor) {
  SupervisorHarness h;
  h.create_session("s1");
  h.start();
  EXPECT_TRUE(h.supervisor().get_executor() == asio::any_io_executor(h.io().get_executor()));
}

TEST(Embedding, AsyncStopWithACallbackCompletesLaterWithSuccess) {
  SupervisorHarness h;
  ASSERT_NO_FATAL_FAILURE(run_one_message(h));
  std::optional<error_code> result;
  h.supervisor().async_stop([&](error_code ec) { result = ec; });
  EXPECT_FALSE(result) << "completed from inside async_stop";
  expect_completes(h, [&] { return result.has_value(); }, "callback");
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result) << result->message();
  EXPECT_FALSE(h.supervisor().stop_abandoned_work());
  EXPECT_GE(h.count(EventKind::container_exited, "s1"), 1) << h.story();
}

// The handler runs on its own associated executor (here a strand), not merely on the loop.
TEST(Embedding, AsyncStopCompletesOnTheHandlersExecutor) {
  SupervisorHarness h;
  ASSERT_NO_FATAL_FAILURE(run_one_message(h));
  auto strand = asio::make_strand(h.io());
  std::optional<bool> on_strand;
  h.supervisor().async_stop(asio::bind_executor(strand, [&](error_code) { on_strand = strand.running_in_this_thread(); }));
  expect_completes(h, [&] { return on_strand.has_value(); }, "bound to a strand");
  ASSERT_TRUE(on_strand);
  EXPECT_TRUE(*on_strand);
}

TEST(Embedding, AsyncStopWithUseFuture) {
  SupervisorHarness h;
  ASSERT_NO_FATAL_FAILURE(run_one_message(h));
  std::future<void> stopped = h.supervisor().async_stop(asio::use_future);
  expect_completes(h, [&] { return stopped.wait_for(0s) == std::future_status::ready; }, "use_future");
  ASSERT_EQ(stopped.wait_for(0s), std::future_status::ready);
  EXPECT_NO_THROW(stopped.get());
}

TEST(Embedding, AsyncStopWithUseAwaitable) {
  SupervisorHarness h;
  ASSERT_NO_FATAL_FAILURE(run_one_message(h));
  bool resumed = false;
  std::exception_ptr failure;
  bool finished = false;
  asio::co_spawn(
      h.io(),
      [&]() -> asio::awaitable<void> {
        co_await h.supervisor().async_stop(asio::use_awaitable);
        resumed = true;
      },
      [&](std::exception_ptr e) {
        failure = e;
        finished = true;
      });
  expect_completes(h, [&] { return finished; }, "use_awaitable");
  EXPECT_TRUE(resumed);
  EXPECT_FALSE(failure) << "the awaited stop threw";
}

TEST(Embedding, AsyncStopWithDeferredStartsOnlyWhenInvoked) {
  SupervisorHarness h;
  ASSERT_NO_FATAL_FAILURE(run_one_message(h));
  auto op = h.supervisor().async_stop(asio::deferred);
  // Not launched yet: the container lives on.
  h.wait_for([] { return false; }, 300ms);
  EXPECT_EQ(h.count(EventKind::container_exited, "s1"), 0) << h.story();
  std::optional<error_code> result;
  std::move(op)([&](error_code ec) { result = ec; });
  expect_completes(h, [&] { return result.has_value(); }, "deferred");
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result) << result->message();
  EXPECT_GE(h.count(EventKind::container_exited, "s1"), 1) << h.story();
}

// A cleanup that cannot commit before the stop's deadline: the stop completes with
// stop_errc::abandoned_work, and a future made by use_future throws it.
TEST(Embedding, AStopThatAbandonsWorkCompletesWithTheAbandonedError) {
  auto options = fast_options();
  options.policy.stuck.claim_tolerance = 30s;
  options.policy.stuck.startup_grace = 30s;
  options.stop_timeout = 1s;
  SupervisorHarness h(options);
  auto s = h.create_session("s1", {"hang-after-claim", "normal"});
  h.start();
  h.enqueue("s1");
  ASSERT_TRUE(h.wait_for([&] { return !store::read_outbound(s.files).acks.empty(); })) << h.story();
  replace_with_directory(s.files.outbound(), s.files.dir() / "outbound.away");
  std::optional<error_code> result;
  std::future<void> future = h.supervisor().async_stop(asio::use_future);
  h.supervisor().async_stop([&](error_code ec) { result = ec; });  // the final stage at once
  expect_completes(h, [&] { return result.has_value(); }, "abandoning");
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, stop_errc::abandoned_work) << result->message();
  EXPECT_STREQ(result->category().name(), "hostsweep.stop");
  EXPECT_NE(result->message().find("abandoned"), std::string::npos) << result->message();
  EXPECT_TRUE(h.supervisor().stop_abandoned_work());
  ASSERT_TRUE(h.wait_for([&] { return future.wait_for(0s) == std::future_status::ready; }, 5s));
  try {
    future.get();
    ADD_FAILURE() << "the future did not throw";
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), stop_errc::abandoned_work);
  }
  restore_from(s.files.outbound(), s.files.dir() / "outbound.away");
}

// Cancelling the stop's handler, of any type, moves the stop to its final stage (the agent
// ignores SIGTERM and the kill grace is an hour: only SIGKILL ends it); the stop still completes.
TEST(Embedding, CancellingAStopForcesItsFinalStage) {
  for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial, asio::cancellation_type::total}) {
    SCOPED_TRACE(static_cast<int>(type));
    auto options = fast_options();
    options.kill_grace = 1h;
    SupervisorHarness h(options);
    ASSERT_NO_FATAL_FAILURE(run_one_message(h, {"ignore-sigterm"}));
    asio::cancellation_signal cancel;
    std::optional<error_code> result;
    h.supervisor().async_stop(asio::bind_cancellation_slot(cancel.slot(), [&](error_code ec) { result = ec; }));
    h.wait_for([] { return false; }, 300ms);
    ASSERT_FALSE(result) << "the agent ignores SIGTERM, and the kill grace is an hour";
    cancel.emit(type);
    expect_completes(h, [&] { return result.has_value(); }, "cancelled");
    ASSERT_TRUE(result);
    EXPECT_NE(*result, asio::error::operation_aborted);
    auto exited = h.of(EventKind::container_exited);
    ASSERT_EQ(exited.size(), 1u) << h.story();
    ASSERT_TRUE(exited[0].exit);
    EXPECT_EQ(exited[0].exit->signal, SIGKILL);
  }
}

// A cancellation emitted after the stop completed does nothing (the slot was cleared).
TEST(Embedding, CancellingACompletedStopIsHarmless) {
  SupervisorHarness h;
  ASSERT_NO_FATAL_FAILURE(run_one_message(h));
  asio::cancellation_signal cancel;
  std::optional<error_code> result;
  h.supervisor().async_stop(asio::bind_cancellation_slot(cancel.slot(), [&](error_code ec) { result = ec; }));
  expect_completes(h, [&] { return result.has_value(); }, "callback");
  cancel.emit(asio::cancellation_type::terminal);
  h.wait_for([] { return false; }, 100ms);
  EXPECT_FALSE(*result);
}

TEST(Embedding, MutatingCallsArePostedNotRunInline) {
  SupervisorHarness h;
  h.create_session("s1");
  h.start();
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::sweep_completed) == 1; })) << h.story();
  ASSERT_TRUE(h.settle());
  const auto events = h.events().size();
  const auto reloads = h.supervisor().counters().registry_reloads;
  h.supervisor().sweep_now();
  h.supervisor().request_check("s1");
  h.supervisor().request_check("nobody");
  EXPECT_EQ(h.supervisor().pending_work(), 0u) << "work began inside the call";
  EXPECT_EQ(h.events().size(), events) << "an event was delivered inside the call";
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::sweep_completed) == 2; })) << h.story();
  EXPECT_GT(h.supervisor().counters().registry_reloads, reloads);
}

// The thread that runs the loop is not the one that calls: every public call from the other
// thread while containers run and messages complete. Under the debug preset's ASan and UBSan.
TEST(Embedding, TheApiMayBeCalledFromAnotherThread) {
  SupervisorHarness setup;  // its data directory and sessions; this test runs its own supervisor
  for (const char* id : {"a", "b", "c"}) setup.create_session(id);
  asio::io_context io;
  std::mutex mutex;
  std::vector<supervisor::Event> events;
  auto count = [&](EventKind kind) {
    std::lock_guard lock(mutex);
    return std::count_if(events.begin(), events.end(), [&](const auto& e) { return e.kind == kind; });
  };
  supervisor::Supervisor sup(io.get_executor(), setup.data(), fast_options(), [&](const supervisor::Event& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
  });
  auto work = asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  sup.start();  // from this thread, while the loop runs
  std::vector<std::string> ids;
  for (const char* id : {"a", "b", "c"}) ids.push_back(setup.enqueue(id));
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::size_t views = 0;
  std::uint64_t checks = 0;
  for (int round = 0; count(EventKind::message_completed) < 3 && std::chrono::steady_clock::now() < deadline; ++round) {
    for (const char* id : {"a", "b", "c"}) sup.request_check(id);
    if (round % 20 == 0) sup.request_check("not-a-session");  // a registry read each
    views = std::max(views, sup.sessions().size());
    checks = std::max(checks, sup.counters().checks);
    (void)sup.pending_work();
    (void)sup.stop_abandoned_work();
    (void)sup.get_executor();
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(count(EventKind::message_completed), 3);
  sup.sweep_now();
  std::future<void> stopped = sup.async_stop(asio::use_future);
  const bool completed = stopped.wait_for(20s) == std::future_status::ready;
  EXPECT_TRUE(completed) << "the stop did not complete";
  if (completed) {
    EXPECT_NO_THROW(stopped.get());
  }
  work.reset();
  io.stop();
  loop.join();
  EXPECT_EQ(views, 3u);
  EXPECT_GT(checks, 0u);
  EXPECT_GE(count(EventKind::session_unknown), 1);
}

// Events come through a post: a handler may stop the supervisor, and the stop completes.
TEST(Embedding, AnEventHandlerMayStopTheSupervisor) {
  SupervisorHarness setup;
  setup.create_session("s1");
  asio::io_context io;
  std::unique_ptr<supervisor::Supervisor> sup;
  std::vector<supervisor::Event> events;
  std::optional<error_code> stopped;
  bool asked = false;
  sup = std::make_unique<supervisor::Supervisor>(io.get_executor(), setup.data(), fast_options(),
                                                 [&](const supervisor::Event& e) {
                                                   events.push_back(e);
                                                   if (e.kind == EventKind::message_completed && !asked) {
                                                     asked = true;
                                                     sup->async_stop([&](error_code ec) { stopped = ec; });
                                                   }
                                                 });
  sup->start();
  setup.enqueue("s1");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!stopped && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(5ms);
  }
  ASSERT_TRUE(stopped) << "the stop asked for by the event handler did not complete";
  EXPECT_FALSE(*stopped) << stopped->message();
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const auto& e) { return e.kind == EventKind::container_exited; }));
  sup.reset();
}

// ... or destroy it (and what owns it): the events queued behind it are not delivered.
TEST(Embedding, AnEventHandlerMayDestroyTheSupervisor) {
  SupervisorHarness setup;
  setup.create_session("s1");
  setup.create_session("s2");
  asio::io_context io;
  struct Owner {
    std::unique_ptr<supervisor::Supervisor> sup;
  };
  auto owner = std::make_unique<Owner>();
  int delivered = 0;
  owner->sup = std::make_unique<supervisor::Supervisor>(io.get_executor(), setup.data(), fast_options(),
                                                        [&](const supervisor::Event&) {
                                                          ++delivered;
                                                          owner.reset();  // the supervisor and its owner
                                                        });
  owner->sup->start();
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (owner && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(5ms);
  }
  ASSERT_FALSE(owner) << "no event arrived";
  io.restart();
  io.run_for(200ms);  // whatever was queued runs now
  EXPECT_EQ(delivered, 1);
}

TEST(Embedding, RequestCheckOnAnUnknownSessionSaysSo) {
  SupervisorHarness h;
  h.create_session("s1");
  h.start();
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::sweep_completed) == 1; })) << h.story();
  h.supervisor().request_check("nobody");
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::session_unknown) == 1; })) << h.story();
  auto unknown = h.of(EventKind::session_unknown).front();
  EXPECT_EQ(unknown.session_id, "nobody");
  EXPECT_FALSE(unknown.reason.empty());
  EXPECT_EQ(h.count(EventKind::session_unknown, "s1"), 0);
}

// Without a watch on the registry nothing else would find a session created since the last
// reload (the sweep is an hour away): request_check reads the registry again and checks it.
TEST(Embedding, RequestCheckPicksUpASessionCreatedSinceTheLastReload) {
  auto options = fast_options();
  options.watch_files = false;
  SupervisorHarness h(options);
  h.create_session("first");
  h.start();
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::sweep_completed) == 1; })) << h.story();
  h.create_session("late");
  h.enqueue("late");
  h.supervisor().request_check("late");
  // Its container starts for the message: it was added and checked. (Its ack would be seen at
  // the next check: unwatched sessions are polled at the sweep.)
  ASSERT_TRUE(h.wait_for([&] { return h.count(EventKind::container_started, "late") == 1; })) << h.story();
  EXPECT_EQ(h.count(EventKind::session_added, "late"), 1) << h.story();
  EXPECT_EQ(h.count(EventKind::session_unknown), 0) << h.story();
}

TEST(Embedding, InvalidOptionsAreRefusedAtConstructionByName) {
  SupervisorHarness h;
  auto expect_refused = [&](supervisor::SupervisorOptions options, const std::string& name) {
    try {
      supervisor::Supervisor sup(h.io().get_executor(), h.data(), std::move(options), {});
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  auto o = fast_options();
  o.sweep_interval = Duration::zero();
  expect_refused(o, "sweep_interval");
  o = fast_options();
  o.runtime.agent_command.clear();
  expect_refused(o, "runtime.agent_command");
  o = fast_options();
  o.kill_grace = -1s;
  expect_refused(o, "kill_grace");
  o = fast_options();
  o.policy.stuck.ceiling = Duration::zero();
  expect_refused(o, "policy.stuck.ceiling");
  o = fast_options();
  o.idle_timeout = Duration::zero();
  expect_refused(o, "idle_timeout");
  o = fast_options();
  o.start_backoff.cap = o.start_backoff.base / 2;
  expect_refused(o, "start_backoff.cap");
}

}  // namespace
}  // namespace hostsweep::testing
