#include "hostsweep/policy/stuck_policy.hpp"

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

// The declared timeout of the tool in flight, if this container declared it; capped.
Duration declared_timeout(const StuckPolicy& policy, const LivenessFacts& facts) {
  if (!facts.tool || !facts.tool->current_tool || !facts.tool->declared_timeout_ms) return Duration{0};
  if (*facts.tool->declared_timeout_ms <= 0) return Duration{0};
  // A tool row left by a predecessor must not widen this container's windows.
  auto stamp = since_start(facts.tool->tool_started_at, facts.container_started_at);
  if (!stamp) stamp = since_start(facts.tool->updated_at, facts.container_started_at);
  if (!stamp) return Duration{0};
  return std::min(Duration{*facts.tool->declared_timeout_ms}, policy.max_declared_timeout);
}

}  // namespace

const char* to_string(StuckVerdict v) noexcept {
  switch (v) {
    case StuckVerdict::healthy: return "healthy";
    case StuckVerdict::kill_ceiling: return "ceiling";
    case StuckVerdict::kill_claim_stuck: return "claim-stuck";
  }
  return "unknown";
}

StuckDecision decide_stuck(const StuckPolicy& policy, const LivenessFacts& facts) {
  const TimePoint start = facts.container_started_at;
  const Duration declared = declared_timeout(policy, facts);

  // Signs of life this container gave since it started; the start itself does not count
  // as life after a claim (see above), only as the origin of the ceiling.
  std::optional<TimePoint> heartbeat;
  // The heartbeat's mtime is exact, but coarse file systems round it: allow a second.
  if (facts.heartbeat_mtime && *facts.heartbeat_mtime + std::chrono::seconds{1} > start) heartbeat = facts.heartbeat_mtime;
  std::optional<TimePoint> latest_life = heartbeat;
  auto note_life = [&](std::optional<TimePoint> t) {
    if (t && (!latest_life || *t > *latest_life)) latest_life = t;
  };
  for (const auto& ack : facts.acks) note_life(since_start(ack.status_changed, start));
  if (facts.tool) {
    note_life(since_start(facts.tool->updated_at, start));
    note_life(since_start(facts.tool->tool_started_at, start));
  }

  StuckDecision decision;
  decision.declared_timeout = declared;
  const std::string widened = declared > Duration{0} ? fmt::format(", widened by a tool's declared {}", format_duration(declared)) : "";

  // Ceiling: silence since the last sign of life, or since the start if there was none.
  const TimePoint ceiling_origin = std::max(start, latest_life.value_or(start));
  const Duration ceiling_window = std::max(policy.ceiling, declared);
  const Duration ceiling_silence = facts.now - ceiling_origin;
  if (ceiling_silence > ceiling_window) {
    decision.verdict = StuckVerdict::kill_ceiling;
    decision.silence = ceiling_silence;
    decision.window = ceiling_window;
    decision.reason = fmt::format("no sign of life for {}, past the ceiling of {}{}", format_duration(ceiling_silence),
                                  format_duration(ceiling_window), widened);
    return decision;
  }
  TimePoint deadline = ceiling_origin + ceiling_window;

  // Claim stuck: a claim of this container's with no sign of life after it.
  const Duration claim_window = std::max(policy.claim_tolerance, declared);
  int ignored = 0;
  int watched = 0;
  for (const auto& ack : facts.acks) {
    if (ack.status != "processing") continue;
    auto claimed_at = since_start(ack.status_changed, start);
    if (!claimed_at) {
      ++ignored;  // unparseable, or a predecessor's orphan: never held against this container
      continue;
    }
    if (latest_life && *latest_life > *claimed_at) continue;  // it moved since the claim
    ++watched;
    TimePoint claim_deadline = *claimed_at + claim_window;
    if (!heartbeat) claim_deadline = std::max(claim_deadline, start + policy.startup_grace);
    if (facts.now > claim_deadline) {
      decision.verdict = StuckVerdict::kill_claim_stuck;
      decision.message_id = ack.message_id;
      decision.silence = facts.now - *claimed_at;
      decision.window = claim_deadline - *claimed_at;
      decision.reason = fmt::format("message {} claimed {} ago with no sign of life since, past the tolerance of {}{}{}",
                                    ack.message_id, format_duration(decision.silence), format_duration(claim_window),
                                    widened, heartbeat ? "" : " and the start-up grace");
      return decision;
    }
    deadline = std::min(deadline, claim_deadline);
  }

  decision.silence = ceiling_silence;
  decision.window = ceiling_window;
  decision.deadline = deadline;
  decision.reason = fmt::format("healthy: last sign of life {} ago (ceiling {}{}); {} silent claim(s) watched, stuck at {}",
                                format_duration(ceiling_silence), format_duration(ceiling_window), widened, watched,
                                format_iso8601(deadline));
  if (ignored > 0) decision.reason += fmt::format("; {} claim(s) older than this container or unreadable, ignored", ignored);
  return decision;
}

}  // namespace hostsweep::policy
