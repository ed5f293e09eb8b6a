#include "hostsweep/supervisor/clock.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>

#include <optional>

namespace hostsweep::supervisor {
namespace asio = boost::asio;

namespace {

// An asio completion handler that calls `handler` unless the wait was cancelled.
auto unless_cancelled(std::function<void()> handler) {
  return [handler = std::move(handler)](boost::system::error_code ec) {
    if (!ec) handler();
  };
}

// Each asio timer is made when first armed: a timer is mostly armed on one clock only.
class SystemTimer : public Clock::Timer {
 public:
  explicit SystemTimer(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  void arm_after(Duration after, std::function<void()> handler) override {
    cancel();
    if (!steady_) steady_.emplace(executor_);
    steady_->expires_after(after);
    steady_->async_wait(unless_cancelled(std::move(handler)));
  }

  // asio's system_timer re-reads the wall clock each time the reactor waits (at least every
  // few minutes), so a step of the wall clock moves the wait with it.
  void arm_at_wall(TimePoint at, std::function<void()> handler) override {
    cancel();
    if (!wall_) wall_.emplace(executor_);
    wall_->expires_at(std::chrono::time_point_cast<asio::system_timer::duration>(at));
    wall_->async_wait(unless_cancelled(std::move(handler)));
  }

  void cancel() override {
    if (steady_) steady_->cancel();
    if (wall_) wall_->cancel();
  }

 private:
  asio::any_io_executor executor_;
  std::optional<asio::steady_timer> steady_;
  std::optional<asio::system_timer> wall_;
};

class SystemClock : public Clock {
 public:
  TimePoint wall_now() const override { return policy::now_utc(); }
  SteadyTime steady_now() const override { return std::chrono::steady_clock::now(); }
  std::unique_ptr<Timer> make_timer(asio::any_io_executor executor) override {
    return std::make_unique<SystemTimer>(std::move(executor));
  }
};

}  // namespace

std::shared_ptr<Clock> system_clock() {
  static const auto clock = std::make_shared<SystemClock>();
  return clock;
}

// --- the manual clock -------------------------------------------------------------------------

class ManualClock::ManualTimer : public Clock::Timer {
 public:
  ManualTimer(ManualClock& clock, asio::any_io_executor executor) : clock_(clock), executor_(std::move(executor)) {}
  ~ManualTimer() override { cancel(); }

  void arm_after(Duration after, std::function<void()> handler) override {
    arm(Wait{executor_, false, {}, clock_.steady_now() + after, std::move(handler)});
  }
  void arm_at_wall(TimePoint at, std::function<void()> handler) override {
    arm(Wait{executor_, true, at, {}, std::move(handler)});
  }
  void cancel() override {
    std::lock_guard lock(clock_.mutex_);
    if (*armed_) clock_.waits_.erase(*armed_);
    *armed_ = 0;
  }

 private:
  void arm(Wait wait) {
    cancel();
    {
      std::lock_guard lock(clock_.mutex_);
      auto id = clock_.next_id_++;
      *armed_ = id;
      // The handler runs only if this wait is still the armed one, of a timer that still lives.
      wait.handler = [armed = std::weak_ptr<std::uint64_t>(armed_), id, handler = std::move(wait.handler)] {
        auto current = armed.lock();
        if (!current || *current != id) return;
        *current = 0;
        handler();
      };
      clock_.waits_.emplace(id, std::move(wait));
    }
    clock_.fire_expired();  // a wait of zero fires at once, as asio's would
  }

  ManualClock& clock_;
  asio::any_io_executor executor_;
  std::shared_ptr<std::uint64_t> armed_ = std::make_shared<std::uint64_t>(0);  // the armed wait's id; 0: none
};

ManualClock::ManualClock(TimePoint wall_start) : wall_(wall_start), steady_(std::chrono::hours{1}) {}

TimePoint ManualClock::wall_now() const {
  std::lock_guard lock(mutex_);
  return wall_;
}

SteadyTime ManualClock::steady_now() const {
  std::lock_guard lock(mutex_);
  return steady_;
}

std::unique_ptr<Clock::Timer> ManualClock::make_timer(asio::any_io_executor executor) {
  return std::make_unique<ManualTimer>(*this, std::move(executor));
}

void ManualClock::advance(Duration d) {
  {
    std::lock_guard lock(mutex_);
    wall_ += d;
    steady_ += d;
  }
  fire_expired();
}

void ManualClock::step_wall(Duration d) {
  {
    std::lock_guard lock(mutex_);
    wall_ += d;
  }
  fire_expired();
}

std::size_t ManualClock::armed_timers() const {
  std::lock_guard lock(mutex_);
  return waits_.size();
}

void ManualClock::fire_expired() {
  std::vector<Wait> expired;
  {
    std::lock_guard lock(mutex_);
    for (auto it = waits_.begin(); it != waits_.end();) {
      bool due = it->second.wall ? it->second.wall_at <= wall_ : it->second.steady_at <= steady_;
      if (!due) {
        ++it;
        continue;
      }
      expired.push_back(std::move(it->second));
      it = waits_.erase(it);
    }
  }
  // Posted, never called here: time moves from wherever the test is, outside any handler.
  for (auto& wait : expired) asio::post(wait.executor, std::move(wait.handler));
}

}  // namespace hostsweep::supervisor
