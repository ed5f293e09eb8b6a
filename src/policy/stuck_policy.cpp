#include "policy/stuck_policy.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace hostsweep::policy {
namespace {

// A container's own timestamp, read as the latest instant its text allows (containers write
// whole seconds), or nullopt when unreadable or older than this container's start.
std::optional<TimePoint> since_start(const std::optional<std::string>& text, TimePoint started_at) {
  if (!text) return std::nullopt;
  auto t = parse_timestamp_latest(*text);
  if (!t || *t < started_at) return std::nullopt;
  return t;
}

// The heartbeat's mtime is exact, but coarse file systems round it: allow a second.
bool heartbeat_since_start(TimePoint mtime, TimePoint started_at) { return mtime + std::chrono::seconds{1} > started_at; }

Duration capped_timeout(const StuckPolicy& policy, const std::optional<ToolFact>& tool) {
  if (!tool || !tool->current_tool || !tool->declared_timeout_ms || *tool->declared_timeout_ms <= 0) return Duration{0};
  return std::min(Duration{*tool->declared_timeout_ms}, policy.max_declared_timeout);
}

// The declared timeout of the tool in flight, if this container declared it; capped. A tool
// row left by a predecessor must not widen this container's windows.
Duration declared_timeout(const StuckPolicy& policy, const LivenessFacts& facts) {
  if (!facts.tool) return Duration{0};
  auto stamp = since_start(facts.tool->tool_started_at, facts.container_started_at);
  if (!stamp) stamp = since_start(facts.tool->updated_at, facts.container_started_at);
  return stamp ? capped_timeout(policy, facts.tool) : Duration{0};
}

Duration at_least_zero(Duration d) { return std::max(d, Duration::zero()); }

}  // namespace

const char* to_string(StuckVerdict v) noexcept {
  switch (v) {
    case StuckVerdict::healthy: return "healthy";
    case StuckVerdict::kill_ceiling: return "ceiling";
    case StuckVerdict::kill_claim_stuck: return "claim-stuck";
  }
  return "unknown";
}

StuckDecision judge_liveness(const StuckPolicy& policy, const LifeSigns& signs) {
  const Duration declared = signs.declared_timeout;
  StuckDecision decision;
  decision.declared_timeout = declared;
  const std::string widened = declared > Duration{0} ? fmt::format(", widened by a tool's declared {}", format_duration(declared)) : "";

  // Ceiling: silence since the last sign of life, or since the start if there was none.
  const Duration ceiling_silence = std::min(signs.since_start, signs.since_life.value_or(signs.since_start));
  const Duration ceiling_window = std::max(policy.ceiling, declared);
  if (ceiling_silence > ceiling_window) {
    decision.verdict = StuckVerdict::kill_ceiling;
    decision.silence = ceiling_silence;
    decision.window = ceiling_window;
    decision.reason = fmt::format("no sign of life for {}, past the ceiling of {}{}", format_duration(ceiling_silence),
                                  format_duration(ceiling_window), widened);
    return decision;
  }
  Duration remaining = ceiling_window - ceiling_silence;

  // Claim stuck: a claim of this container's with no sign of life after it. Until the first
  // heartbeat, the start-up grace covers it too.
  const Duration claim_window = std::max(policy.claim_tolerance, declared);
  const Duration grace_left = signs.heartbeat_seen ? Duration::min() : policy.startup_grace - signs.since_start;
  int watched = 0;
  for (const auto& claim : signs.claims) {
    if (claim.life_since) continue;  // it moved since the claim
    ++watched;
    const Duration left = std::max(claim_window - claim.age, grace_left);
    if (left < Duration::zero()) {
      decision.verdict = StuckVerdict::kill_claim_stuck;
      decision.message_id = claim.message_id;
      decision.silence = claim.age;
      decision.window = claim.age + left;
      decision.reason = fmt::format("message {} claimed {} ago with no sign of life since, past the tolerance of {}{}{}",
                                    claim.message_id, format_duration(claim.age), format_duration(claim_window), widened,
                                    signs.heartbeat_seen ? "" : " and the start-up grace");
      return decision;
    }
    remaining = std::min(remaining, left);
  }

  decision.silence = ceiling_silence;
  decision.window = ceiling_window;
  decision.remaining = remaining;
  decision.reason = fmt::format("healthy: last sign of life {} ago (ceiling {}{}); {} silent claim(s) watched, stuck in {}",
                                format_duration(ceiling_silence), format_duration(ceiling_window), widened, watched,
                                format_duration(remaining));
  if (signs.ignored_claims > 0) {
    decision.reason += fmt::format("; {} claim(s) older than this container or unreadable, ignored", signs.ignored_claims);
  }
  return decision;
}

LifeSigns signs_from_files(const StuckPolicy& policy, const LivenessFacts& facts) {
  const TimePoint start = facts.container_started_at;
  const TimePoint now = facts.now;
  // Written times are believed only up to now: a time in the future counts as now.
  auto seen = [&](TimePoint t) { return std::min(t, now); };
  LifeSigns signs;
  signs.since_start = at_least_zero(now - start);
  signs.declared_timeout = declared_timeout(policy, facts);

  std::optional<TimePoint> latest_life;
  auto note_life = [&](std::optional<TimePoint> t) {
    if (t && (!latest_life || seen(*t) > *latest_life)) latest_life = seen(*t);
  };
  if (facts.heartbeat_mtime && heartbeat_since_start(*facts.heartbeat_mtime, start)) {
    signs.heartbeat_seen = true;
    note_life(facts.heartbeat_mtime);
  }
  for (const auto& ack : facts.acks) note_life(since_start(ack.status_changed, start));
  if (facts.tool) {
    note_life(since_start(facts.tool->updated_at, start));
    note_life(since_start(facts.tool->tool_started_at, start));
  }
  if (latest_life) signs.since_life = at_least_zero(now - *latest_life);

  for (const auto& ack : facts.acks) {
    if (ack.status != "processing") continue;
    auto claimed_at = since_start(ack.status_changed, start);
    if (!claimed_at) {
      ++signs.ignored_claims;
      continue;
    }
    signs.claims.push_back(
        {ack.message_id, at_least_zero(now - seen(*claimed_at)), latest_life && *latest_life > seen(*claimed_at)});
  }
  return signs;
}

StuckDecision decide_stuck(const StuckPolicy& policy, const LivenessFacts& facts) {
  auto decision = judge_liveness(policy, signs_from_files(policy, facts));
  if (decision.verdict == StuckVerdict::healthy) {
    decision.deadline = facts.now + decision.remaining;
    decision.reason += fmt::format(" (at {})", format_iso8601(*decision.deadline));
  }
  return decision;
}

// --- the supervisor's observations ------------------------------------------------------------

void LifeObserver::saw_life(SteadyTime at) {
  if (!last_life_ || at > *last_life_) last_life_ = at;
}

bool LifeObserver::see_heartbeat(std::optional<TimePoint> mtime, SteadyTime at) {
  // At the first look, a heartbeat counts if written since the start; later, if it changed.
  bool fresh = mtime && (heartbeat_looked_ ? heartbeat_ != mtime : heartbeat_since_start(*mtime, started_wall_));
  if (fresh) {
    heartbeat_seen_ = true;
    saw_life(at);
  }
  heartbeat_ = mtime;
  heartbeat_looked_ = true;
  return fresh;
}

void LifeObserver::observe_heartbeat(std::optional<TimePoint> mtime, SteadyTime at) { see_heartbeat(mtime, at); }

void LifeObserver::observe(const StuckPolicy& policy, const LivenessFacts& facts, bool files_read, SteadyTime at) {
  // The latest time written by the signs that are new in this look: a claim older than it (by
  // the container's own clock) was followed by life within this look. Ordering signs the
  // container wrote between two looks is all its clock decides.
  std::optional<TimePoint> newest_written;
  auto note_written = [&](std::optional<TimePoint> t) {
    if (t && (!newest_written || *t > *newest_written)) newest_written = t;
  };
  if (see_heartbeat(facts.heartbeat_mtime, at)) note_written(facts.heartbeat_mtime);
  if (!files_read) {
    looked_ = true;
    return;  // the acks and tool row are unknown, not gone
  }

  std::vector<std::pair<std::string, std::optional<TimePoint>>> new_claims;
  std::map<std::string, AckSeen> acks;
  for (const auto& ack : facts.acks) {
    AckSeen seen{ack.status, ack.status_changed};
    auto before = acks_.find(ack.message_id);
    bool changed = looked_ ? before == acks_.end() || !(before->second == seen)
                           : since_start(ack.status_changed, started_wall_).has_value();
    if (changed) {
      saw_life(at);
      if (ack.status == "processing") new_claims.emplace_back(ack.message_id, parse_timestamp_latest(ack.status_changed));
      else note_written(parse_timestamp_latest(ack.status_changed));
    }
    acks.emplace(ack.message_id, std::move(seen));
  }
  acks_ = std::move(acks);

  if (facts.tool) {
    ToolSeen seen{facts.tool->current_tool, facts.tool->declared_timeout_ms, facts.tool->tool_started_at,
                  facts.tool->updated_at};
    bool changed = looked_ ? !tool_ || !(*tool_ == seen)
                           : since_start(seen.updated_at, started_wall_) || since_start(seen.tool_started_at, started_wall_);
    if (changed) {
      saw_life(at);
      tool_is_ours_ = true;
      note_written(parse_timestamp_latest(seen.updated_at));
    }
    tool_ = std::move(seen);
  } else {
    tool_.reset();
  }
  declared_ = tool_is_ours_ ? capped_timeout(policy, facts.tool) : Duration{0};

  // Claims: this container's are those seen appearing (or, at the first look, written since
  // it started); each is dated when first seen. Settled or vanished claims are dropped.
  for (auto it = claims_.begin(); it != claims_.end();) {
    auto ack = acks_.find(it->first);
    it = ack == acks_.end() || ack->second.status != "processing" ? claims_.erase(it) : std::next(it);
  }
  for (const auto& [id, written] : new_claims) {
    bool followed = written && newest_written && *newest_written > *written;
    claims_[id] = ClaimSeen{at, followed};
  }
  ignored_claims_ = 0;
  for (const auto& [id, ack] : acks_) {
    if (ack.status == "processing" && !claims_.count(id)) ++ignored_claims_;
  }
  looked_ = true;
}

LifeSigns LifeObserver::signs(SteadyTime now) const {
  auto age = [&](SteadyTime t) { return at_least_zero(std::chrono::duration_cast<Duration>(now - t)); };
  LifeSigns signs;
  signs.since_start = age(started_);
  if (last_life_) signs.since_life = age(*last_life_);
  signs.heartbeat_seen = heartbeat_seen_;
  signs.declared_timeout = declared_;
  signs.ignored_claims = ignored_claims_;
  for (const auto& [id, claim] : claims_) {
    signs.claims.push_back({id, age(claim.seen), claim.followed || (last_life_ && *last_life_ > claim.seen)});
  }
  return signs;
}

}  // namespace hostsweep::policy
