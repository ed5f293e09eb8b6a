#include "policy/start_backoff.hpp"

#include <algorithm>

namespace hostsweep::policy {

StartBackoff next_start_backoff(const StartBackoffPolicy& policy, int failures_before, const ContainerRun& run) {
  if (run.started && (run.did_work || run.uptime >= policy.reset_after)) return {};
  StartBackoff out;
  out.failures = failures_before + 1;
  out.delay = policy.base;
  for (int i = 1; i < out.failures && out.delay > Duration::zero() && out.delay < policy.cap; ++i) out.delay *= 2;
  out.delay = std::min(out.delay, policy.cap);
  return out;
}

}  // namespace hostsweep::policy
