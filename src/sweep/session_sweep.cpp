#include "hostsweep/sweep/session_sweep.hpp"

#include "hostsweep/error.hpp"
#include "hostsweep/os/session_lock.hpp"
#include "hostsweep/store/outbound_store.hpp"

namespace hostsweep::sweep {

bool container_may_run(const store::SessionFiles& files) {
  if (os::SessionLock::is_held(files.lock())) return true;
  auto record = os::read_holder_record(files.holder_record());
  return record && os::recorded_container_alive(*record);
}

policy::SweepFacts gather_facts(const store::SessionFiles& files, TimePoint now) {
  policy::SweepFacts facts;
  facts.now = now;
  facts.container_running = container_may_run(files);
  if (facts.container_running) {
    if (auto record = os::read_holder_record(files.holder_record())) facts.container_started_at = record->started_at;
  }
  facts.heartbeat_mtime = store::read_heartbeat(files);
  auto outbound = store::read_outbound(files);
  facts.acks = std::move(outbound.acks);
  facts.tool = std::move(outbound.tool);
  facts.inbound = store::InboundDb(files).read_facts(facts.acks);
  return facts;
}

PassResult run_pass(PassInput in) {
  PassResult out;
  std::optional<os::SessionLock> lock;
  std::optional<TimePoint> running_since = in.own_container_since;
  if (!running_since) {
    lock = in.held_lock ? std::move(in.held_lock) : os::SessionLock::try_acquire(in.files.lock());
    if (!lock) {
      // Someone else runs a container here, or writes the files: left entirely alone.
      out.held_elsewhere = out.container_running = true;
      out.holder = os::read_holder_record(in.files.holder_record());
      return out;
    }
    // A record left behind under a free lock: its supervisor died. Its container, if the kernel
    // says it still lives, is an orphan: nothing is written while it does.
    if (auto record = os::read_holder_record(in.files.holder_record())) {
      if (os::recorded_container_alive(*record)) {
        out.container_running = true;
        out.orphan = std::move(record);
        out.orphan_lock = std::move(lock);
        return out;
      }
      os::remove_holder_record(in.files.holder_record());
    }
  }
  out.container_running = !lock;

  // The versions first: whatever is read after them is at least as new.
  const auto outbound_version = store::read_file_version(in.files.outbound());
  const auto inbound_version = store::read_file_version(in.files.inbound());
  const auto& memo = in.memo;
  const bool outbound_unchanged = memo && outbound_version == memo->outbound_version;
  const bool inbound_unchanged = memo && inbound_version == memo->inbound_version;

  store::OutboundSnapshot outbound;
  if (outbound_unchanged) {
    outbound = memo->outbound;
  } else if (lock) {
    // No container runs: a hot journal left by one killed mid-commit is rolled back now
    // (FAILURE-MODES.md 14). An unreadable file fails the pass, which is retried.
    outbound = store::read_outbound(in.files, *lock);
  } else {
    try {
      outbound = store::read_outbound(in.files);
    } catch (const Error& e) {
      // The container runs and its file cannot be read (a symlink, a hot journal, the size
      // cap): its liveness is still judged, from its heartbeat and start (FAILURE-MODES.md 16).
      out.file_error = e.what();
      outbound = {};
      outbound.complete = true;  // never "repaired" while a container may write it
    }
  }
  const auto claims = policy::claimed_ids(outbound.acks);
  store::InboundState inbound_state;
  if (outbound_unchanged && inbound_unchanged && !(lock && !claims.empty())) {
    // Nothing was committed to either file since the memo's pass read them (its own writes
    // would have changed the versions too), so that pass's reads would find what it found and
    // its writes would find nothing to do: the same contents, judged again at this pass's time.
    inbound_state = memo->inbound;
    out.from_memo = true;
  } else {
    auto sync_inbound = [&] {
      store::InboundDb inbound(in.files);
      out.settled = inbound.settle_acks(outbound.acks);
      if (lock) {
        // No container runs and none can start while we hold the lock: the crashed-container cleanup.
        if (in.retry_orphans) out.retries = inbound.retry_orphans(claims, in.policy.retry, in.now);
        out.claims_deleted = store::delete_orphan_claims(in.files, claims, *lock);
      }
      out.fan_outs = inbound.fan_out_recurrences(policy::recurrence_zone(in.policy), in.now);
      inbound_state = inbound.read_state();
    };
    if (lock) {
      sync_inbound();  // an error fails the pass: nothing starts on a file that cannot be read
    } else {
      try {
        sync_inbound();
      } catch (const Error& e) {
        // As above: the running container is judged all the same (FAILURE-MODES.md 16).
        if (!out.file_error) out.file_error = e.what();
      }
    }
  }
  if (!lock && running_since) {
    out.stuck = policy::decide_stuck(in.policy.stuck,
                                     {in.now, *running_since, store::read_heartbeat(in.files), policy::ack_facts(outbound.acks), outbound.tool});
  }
  out.summary = store::summarize(inbound_state, in.now);

  if (lock && in.may_start && !out.summary.due_ids.empty()) {
    // A stale heartbeat must not judge the next container (FAILURE-MODES.md 1). Unlinked, never
    // followed; one that cannot go (a directory) is no sign of life anyway: read_heartbeat
    // takes only a regular file.
    out.heartbeat_problem = store::remove_stale_heartbeat(in.files).problem;
    if (!outbound.complete) store::ensure_outbound(in.files, *lock);
    out.start_lock = std::move(lock);
  }
  if (outbound_version && inbound_version && !out.file_error) {
    out.memo = std::make_shared<const PassMemo>(
        PassMemo{*outbound_version, *inbound_version, std::move(outbound), std::move(inbound_state)});
  }
  return out;
}

PassResult sweep_once(const store::SessionFiles& files, const policy::SweepPolicy& policy, TimePoint now) {
  return run_pass({files, policy, now});
}

}  // namespace hostsweep::sweep
