#pragma once
// One session, one pass: read the facts (policy::SweepFacts), ask policy::plan_sweep for the
// plan, and apply its steps that need no container (sync acks; crashed-container cleanup when
// no container runs; recurrence), each re-decided inside its own transaction. `hostsweep
// explain` prints the plan of the same facts; `hostsweep sweep --once` and the supervisor's
// checks run the pass.
//
// Blocking (SQLite, file system): never call on an event loop thread.

#include <memory>
#include <optional>
#include <vector>

#include "os/holder_record.hpp"
#include "os/session_lock.hpp"
#include "policy/sweep_plan.hpp"
#include "store/file_version.hpp"
#include "store/inbound_store.hpp"
#include "store/outbound_store.hpp"
#include "hostsweep/store/layout.hpp"
#include "sweep/pass_memo.hpp"

namespace hostsweep::sweep {

// Everything the plan reads, with no side effect (but the schema upgrade of an old inbound.db),
// read as a pass reads it. A container runs when someone holds the session lock, or when the
// container of a supervisor that died is still alive (the holder record, verified with the
// kernel); its start time is what its supervisor recorded. So the plan is what the holder's
// pass would do, or this process's once the lock is free.
policy::SweepFacts gather_facts(const store::SessionFiles& files, TimePoint now);

// Whether a container of the session may be running, without taking anything: someone holds
// its lock, or its holder record names a container the kernel says still lives.
bool container_may_run(const store::SessionFiles& files);

// One pass over one session: the supervisor's check and `hostsweep sweep --once` both run it.
struct PassInput {
  store::SessionFiles files;
  policy::SweepPolicy policy;
  TimePoint now;
  // The caller's own container runs (or is being stopped) and started then: the pass syncs
  // and judges it, takes no lock, and never writes outbound.db.
  std::optional<TimePoint> own_container_since;
  // The lock the caller still holds after its container exited: the cleanup runs under it.
  std::optional<os::SessionLock> held_lock;
  // When work is due and no container runs, prepare a start and hand the lock back.
  bool may_start = false;
  // At shutdown an interrupted message keeps its tries: its claim is deleted, not retried.
  bool retry_orphans = true;
  // The previous pass's memo (sweep::PassMemo), if the caller kept it; without one, the pass
  // takes the one persisted in the session's host directory. When neither file has been
  // committed to since, the pass judges the same contents again at its own time instead of
  // opening the files: an idle session's pass then costs a few system calls. Writes by the
  // pass itself change the versions, so a memo never hides them.
  std::shared_ptr<const PassMemo> memo;
};

struct PassResult {
  bool container_running = false;  // the caller's own, someone else's, or an orphan
  // Another process holds the session lock: the pass wrote nothing and read nothing but the
  // holder's record (nullopt when it has none: a maintenance pass, not a supervisor).
  bool held_elsewhere = false;
  std::optional<os::HolderRecord> holder;
  // The lock was free but the container of a supervisor that died still lives: the pass wrote
  // nothing. `orphan_lock` is the session lock, handed to the caller so that it can stop the
  // orphan with no one else starting a container meanwhile; then the cleanup runs under it.
  std::optional<os::HolderRecord> orphan;
  std::optional<os::SessionLock> orphan_lock;
  std::vector<policy::Settlement> settled;
  std::vector<policy::PlannedRetry> retries;
  int claims_deleted = 0;
  std::vector<policy::FanOut> fan_outs;        // recurring series scheduled (or ended)
  std::optional<policy::StuckDecision> stuck;  // a running container's verdict (not acted on here)
  // The caller's own container: what its files show of its life, for the caller's observer
  // (policy::LifeObserver), and whether outbound.db could be read at all.
  std::optional<policy::LivenessFacts> liveness;
  bool outbound_unreadable = false;
  store::InboundSummary summary;               // the inbound state the pass left
  std::optional<os::SessionLock> start_lock;   // set: ready to start (stale heartbeat removed, outbound.db present)
  std::shared_ptr<const PassMemo> memo;        // for the next pass; null when a file had no version
  bool from_memo = false;                      // nothing had changed: the files were not opened
  // The caller's container runs but a session file could not be read or written: why. The pass
  // judged its liveness all the same, from what it could read (FAILURE-MODES.md 16).
  std::optional<std::string> file_error;
  bool file_error_may_pass = false;  // it is outbound.db's hot journal, which the container's end rolls back
  std::optional<std::string> heartbeat_problem;  // a stale .heartbeat that could not be removed
};

// If another process holds the session lock, nothing; if the lock is free but a dead
// supervisor's container lives on, nothing but reporting the orphan. Otherwise the plan of the
// facts, applied in its order: sync acks; then, if no container runs (the session lock is held
// during the cleanup so that no one starts one meanwhile), retry or fail the orphan claims'
// messages and delete the claims; if one runs, its verdict. A crash between the two writes is
// harmless: the next pass finds the claims again and decide_retry leaves the already
// rescheduled messages alone. Then the recurrence fan-out, in the policy's zone, and the
// summary of what the pass left; a start when the plan wakes and work is still due. Each file
// is opened at most once, and not at all when the memo shows nothing changed and the plan
// writes nothing (orphan claims waiting for their cleanup are a write). Throws Error.
PassResult run_pass(PassInput input);

// run_pass with nothing held and nothing to start: what `hostsweep sweep --once` does.
PassResult sweep_once(const store::SessionFiles& files, const policy::SweepPolicy& policy, TimePoint now);

}  // namespace hostsweep::sweep
