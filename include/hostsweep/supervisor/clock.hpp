#pragma once
// The supervisor's time, injected: both clocks, and timers on them. The default is the
// system's (asio timers); tests give a ManualClock, whose time moves only when told, so that a
// 30-minute ceiling or a day's schedule passes in milliseconds and instants are exact.
//
// Due times are wall-clock by nature (a message is due at 09:00 in the user's zone) and are
// armed on the wall clock; everything measured (liveness, graces, backoffs) is steady.

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "hostsweep/policy/timestamp.hpp"

namespace hostsweep::supervisor {

using policy::SteadyTime;

class Clock {
 public:
  // One timer, armed at most once at a time: arming again replaces the wait, and a cancelled
  // or replaced wait never calls its handler. Handlers run on the timer's executor.
  class Timer {
   public:
    virtual ~Timer() = default;
    virtual void arm_after(Duration after, std::function<void()> handler) = 0;  // steady
    virtual void arm_at_wall(TimePoint at, std::function<void()> handler) = 0;  // wall clock
    virtual void cancel() = 0;
  };

  virtual ~Clock() = default;
  virtual TimePoint wall_now() const = 0;  // thread-safe
  virtual SteadyTime steady_now() const = 0;  // thread-safe
  virtual std::unique_ptr<Timer> make_timer(boost::asio::any_io_executor executor) = 0;

  policy::Now now() const { return {wall_now(), steady_now()}; }
};

// The system's clocks and asio's timers.
std::shared_ptr<Clock> system_clock();

// Time that moves only when told. advance() moves both clocks; step_wall() moves the wall
// clock alone, as an NTP step or an administrator would. Expired timers' handlers are posted
// to their executors when time moves (run the executor afterwards to see their effect).
class ManualClock : public Clock {
 public:
  explicit ManualClock(TimePoint wall_start);
  TimePoint wall_now() const override;
  SteadyTime steady_now() const override;
  std::unique_ptr<Timer> make_timer(boost::asio::any_io_executor executor) override;

  void advance(Duration d);
  void step_wall(Duration d);
  std::size_t armed_timers() const;

 private:
  class ManualTimer;
  struct Wait {
    boost::asio::any_io_executor executor;
    bool wall = false;
    TimePoint wall_at{};
    SteadyTime steady_at{};
    std::function<void()> handler;
  };
  void fire_expired();

  mutable std::mutex mutex_;
  TimePoint wall_;
  SteadyTime steady_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Wait> waits_;
};

}  // namespace hostsweep::supervisor
