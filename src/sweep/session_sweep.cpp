#include "sweep/session_sweep.hpp"

#include "hostsweep/error.hpp"
#include "os/session_lock.hpp"
#include "store/outbound_store.hpp"

namespace hostsweep::sweep {
namespace {

std::vector<std::string> retried_ids(const std::vector<policy::PlannedRetry>& retries) {
  std::vector<std::string> ids;
  ids.reserve(retries.size());
  for (const auto& r : retries) ids.push_back(r.message_id);
  return ids;
}

bool writes(const policy::SweepPlan& plan) {
  return !plan.settlements.empty() || !plan.retries.empty() || !plan.orphan_claims.empty() || !plan.fan_outs.empty();
}

}  // namespace

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
  // While the caller's container runs, a file that cannot be read or written does not fail the
  // pass: the container is judged all the same, from what could be read (FAILURE-MODES.md 16).
  // With none running, it does: nothing starts on a file that cannot be read.
  auto guarded = [&](auto&& work) {
    if (lock) return work();
    try {
      work();
    } catch (const Error& e) {
      if (!out.file_error) out.file_error = e.what();
    }
  };

  // The memo: the caller's, or the one the last pass over these files left in the host's
  // directory (a restarted daemon, `sweep --once`), read only now that this process holds the
  // lock or runs the container, as whoever wrote it did.
  std::shared_ptr<const PassMemo> memo = in.memo;
  const bool persisted = !in.files.host_dir().empty();
  if (!memo && persisted) memo = load_pass_memo(in.files.pass_memo());

  // The versions first: whatever is read after them is at least as new.
  const auto outbound_version = store::read_file_version(in.files.outbound());
  const auto inbound_version = store::read_file_version(in.files.inbound());
  const bool inbound_unchanged = memo && inbound_version == memo->inbound_version;
  // Compacted acks hold only for a pass under the lock over the same two versions (PassMemo).
  const bool outbound_unchanged = memo && outbound_version == memo->outbound_version &&
                                  (!memo->acks_compacted || (lock && inbound_unchanged));

  // The facts, from the memo or the files.
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
      // A symlink, a hot journal, the size cap: judged from its heartbeat and start alone. A
      // hot journal most often means the container died mid-commit and its exit is about to
      // be seen.
      out.file_error = e.what();
      out.file_error_may_pass = dynamic_cast<const store::HotJournal*>(&e) != nullptr;
      out.outbound_unreadable = true;
      outbound = {};
      outbound.complete = true;  // never "repaired" while a container may write it
    }
  }
  policy::SweepFacts facts{.now = in.now, .container_running = !lock, .container_started_at = running_since};
  facts.retry_orphans = in.retry_orphans;
  facts.acks = std::move(outbound.acks);
  facts.tool = std::move(outbound.tool);
  std::optional<store::InboundDb> inbound;  // opened at most once
  if (outbound_unchanged && inbound_unchanged) {
    // Nothing was committed to either file since the memo's pass read them (its own writes
    // would have changed the versions too): the same contents, judged again at this pass's time.
    facts.inbound = memo->inbound;
  } else {
    guarded([&] {
      inbound.emplace(in.files);
      facts.inbound = inbound->read_facts(facts.acks);
    });
  }
  if (running_since) facts.heartbeat_mtime = store::read_heartbeat(in.files);

  // The plan, applied step by step; each step re-decides its rows inside its transaction.
  const auto plan = policy::plan_sweep(in.policy, facts);
  std::optional<policy::InboundState> left;  // what the writes left, read back
  if (writes(plan)) {
    guarded([&] {
      if (!inbound) inbound.emplace(in.files);
      out.settled = inbound->settle(plan.settlements);
      out.retries = inbound->retry_orphans(retried_ids(plan.retries), in.policy.retry, in.now);
      if (lock) out.claims_deleted = store::delete_orphan_claims(in.files, plan.orphan_claims, *lock);
      out.fan_outs = inbound->fan_out(plan.fan_outs, policy::recurrence_zone(in.policy), in.now);
      left = inbound->read_state();
    });
  }
  out.from_memo = outbound_unchanged && inbound_unchanged && !inbound;

  // Liveness: the caller's own container, judged with the plan on the files' clock; and what the
  // files showed, for the supervisor's own observer (policy::LifeObserver), which it acts on.
  if (running_since) {
    out.stuck = plan.stuck;
    if (!lock) {
      out.liveness = policy::LivenessFacts{in.now, *running_since, facts.heartbeat_mtime, policy::ack_facts(facts.acks),
                                           facts.tool};
    }
  }

  out.summary = store::summarize(left ? *left : facts.inbound.state, in.now);
  // The plan's wake, if work is still due once its steps are done.
  if (lock && in.may_start && plan.wake && !out.summary.due_ids.empty()) {
    // A stale heartbeat must not judge the next container (FAILURE-MODES.md 1). Unlinked, never
    // followed; one that cannot go (a directory) is no sign of life anyway: read_heartbeat
    // takes only a regular file.
    out.heartbeat_problem = store::remove_stale_heartbeat(in.files).problem;
    if (!outbound.complete) store::ensure_outbound(in.files, *lock);
    out.start_lock = std::move(lock);
  }
  // What was read goes to the memo, as it was read; never of a version in doubt, which a later
  // change could leave looking the same.
  const bool versions_sure = outbound_version && inbound_version && !outbound_version->in_doubt &&
                             !inbound_version->in_doubt;
  if (versions_sure && !out.file_error) {
    if (out.from_memo && (memo->acks_compacted || !lock)) {
      out.memo = memo;  // the same contents, already kept (and persisted)
    } else {
      outbound.acks = std::move(facts.acks);
      outbound.tool = std::move(facts.tool);
      PassMemo next{*outbound_version, *inbound_version, std::move(outbound), std::move(facts.inbound)};
      // No container runs: what a pass needs then, not the session's history; kept on disk for
      // the next process to sweep the session. (While one runs, the memo stays in memory: a
      // supervisor that dies leaves an orphan, which no pass reads.)
      if (lock) next = compact_acks(std::move(next));
      out.memo = std::make_shared<const PassMemo>(std::move(next));
      if (persisted && lock) save_pass_memo(in.files.pass_memo(), *out.memo);
    }
  }
  return out;
}

PassResult sweep_once(const store::SessionFiles& files, const policy::SweepPolicy& policy, TimePoint now) {
  return run_pass({files, policy, now});
}

}  // namespace hostsweep::sweep
