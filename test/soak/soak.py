#!/usr/bin/env python3
"""The chaos soak of issue 12: the real `hostsweep run` supervising real `hostsweep-fake-agent`
containers, under random behaviours, random writes by two writers and random faults, then an
invariant check from the files and the daemon's log.

    test/soak/soak.py --hostsweep build/release/src/hostsweep \\
        --fake-agent build/release/src/hostsweep-fake-agent --duration 90s --seed 1

Phases: set up the sessions and their scripts; chaos for --duration (writes, daemon and
container faults, a competing `sweep --once` every few seconds, the monitor sampling); drain (faults stop, every script turns normal, wait
until every one-shot message has ended); the final SIGTERM; the checks. Exit status 0 with no
violation, 1 with any (each printed with its session, message and the seed), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checker  # noqa: E402
import faults  # noqa: E402
import inject  # noqa: E402
import logs as logs_mod  # noqa: E402
import monitor as monitor_mod  # noqa: E402
import procs  # noqa: E402
import scenario as scenario_mod  # noqa: E402
import stats  # noqa: E402
import writer as writer_mod  # noqa: E402

# The daemon's settings: every window short, so that hangs, retries and backoffs happen many
# times a minute, and still wide enough for a loaded 2-core machine (a heartbeat every 200 ms
# against a 2 s claim tolerance).
MAX_TRIES = 3
KILL_GRACE = 1.0
STOP_TIMEOUT = 5.0
DAEMON_SETTINGS = {
    "ceiling": "6s", "claim-tolerance": "2s", "startup-grace": "3s", "max-declared-timeout": "5s",
    "backoff-base": "300ms", "backoff-cap": "3s", "max-tries": str(MAX_TRIES),
    "kill-grace": f"{int(KILL_GRACE * 1000)}ms", "stop-timeout": f"{int(STOP_TIMEOUT * 1000)}ms",
    "idle-timeout": "2s", "sweep-interval": "3s",
    "start-backoff-base": "200ms", "start-backoff-cap": "2s", "start-backoff-reset": "5s",
    "timezone": "UTC", "log-format": "json", "log-level": "info",
}
AGENT_FLAGS = "--poll-interval 100ms --work-time 50ms --heartbeat-interval 200ms"
# A competing `hostsweep sweep --once` (a maintenance pass an operator runs while the daemon
# works) judges with the daemon's own policy.
SWEEP_SETTINGS = ("ceiling", "claim-tolerance", "startup-grace", "max-declared-timeout", "backoff-base",
                  "backoff-cap", "max-tries", "timezone")


def log_says(log_dir: str, incarnation: int, text: str) -> bool:
    """Whether daemon incarnation N's log holds `text`."""
    with open(os.path.join(log_dir, f"daemon-{incarnation}.log"), "rb") as f:
        return text.encode() in f.read()


def parse_duration(text: str) -> float:
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", text)
    if not text or not parts:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (write e.g. 90s, 30m, 1h, 1h30m)")
    h, m, s = parts.groups()
    return int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)


def arguments(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hostsweep", required=True, help="the hostsweep binary")
    p.add_argument("--fake-agent", required=True, help="the hostsweep-fake-agent binary")
    p.add_argument("--duration", type=parse_duration, default=parse_duration("90s"), help="the chaos phase (90s, 30m, 1h)")
    p.add_argument("--seed", type=int, default=None, help="replays a run (default: a fresh one, printed)")
    p.add_argument("--sessions", type=int, default=12)
    p.add_argument("--rate", type=float, default=4.0, help="messages written per second of chaos")
    p.add_argument("--drain-timeout", type=parse_duration, default=parse_duration("120s"),
                   help="how long the drain may take before what is left counts as stuck")
    p.add_argument("--term-margin", type=parse_duration, default=parse_duration("5s"),
                   help="a SIGTERM's bound is kill-grace + stop-timeout + this")
    p.add_argument("--work-dir", help="where the data directory and logs go (default: a fresh temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the work directory even when the run passes")
    p.add_argument("--summary", help="also write the run's figures to this JSON file")
    p.add_argument("--inject", default="", help="break invariants by hand to see the checker fail: a comma-separated "
                   "list of " + ", ".join(inject.KINDS))
    a = p.parse_args(argv)
    a.inject = set(filter(None, a.inject.split(",")))
    if a.inject - set(inject.KINDS):
        p.error(f"--inject: unknown {sorted(a.inject - set(inject.KINDS))}")
    for binary in (a.hostsweep, a.fake_agent):
        if not os.access(binary, os.X_OK):
            p.error(f"{binary}: not an executable file")
    a.hostsweep, a.fake_agent = os.path.abspath(a.hostsweep), os.path.abspath(a.fake_agent)
    if a.seed is None:
        a.seed = int.from_bytes(os.urandom(4), "big")
    return a


class Soak:
    def __init__(self, a):
        self.a = a
        self.seed = a.seed
        self.work = os.path.abspath(a.work_dir) if a.work_dir else tempfile.mkdtemp(prefix="hostsweep-soak-")
        if a.work_dir and os.path.exists(self.work):
            shutil.rmtree(self.work)
        self.data = os.path.join(self.work, "data")
        self.log_dir = os.path.join(self.work, "logs")
        os.makedirs(self.log_dir)
        self.sc = scenario_mod.make(a.seed, a.duration, a.sessions, max(a.sessions, int(a.duration * a.rate)))
        self.sessions_dir = os.path.join(self.data, "sessions", self.sc.group)
        self.term_bound = KILL_GRACE + STOP_TIMEOUT + a.term_margin
        # A second SIGTERM (at most 0.6 s after the first) SIGKILLs every container and gives
        # up on what is left 1 s later (README).
        self.double_term_bound = 0.6 + 1.0 + a.term_margin
        flags = [f"--{k}={v}" for k, v in DAEMON_SETTINGS.items()]
        flags.append(f"--agent-command={a.fake_agent} --session-dir {{session_dir}} {AGENT_FLAGS}")
        self.daemon = faults.Daemon(a.hostsweep, self.data, self.log_dir, flags)
        self.containers = faults.ContainerFaults(a.fake_agent, self.sessions_dir, a.seed)
        self.monitor = monitor_mod.Monitor(
            a.fake_agent, self.data, self.sc.group, self.daemon.pid,
            # While a fault holds the daemon (a stop in progress), its locks prove nothing.
            lambda: float("inf") if self.daemon.lock.locked() else self.daemon.signalled)
        self.writers = writer_mod.Writers(a.hostsweep, self.data, self.sc.group)
        self.written: dict[str, checker.Written] = {}
        self.violations: list[checker.Violation] = []
        self.sweeps = 0  # competing `sweep --once` runs that completed
        self.t0 = 0.0

    def say(self, text: str) -> None:
        print(f"[soak {time.time() - self.t0 if self.t0 else 0:7.1f}s] {text}", flush=True)

    # -- phases --------------------------------------------------------------------------

    def setup(self) -> None:
        for s in self.sc.sessions:
            done = subprocess.run([self.a.hostsweep, "session", "create", "--data-dir", self.data,
                                   "--agent-group", self.sc.group, "--id", s], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"session create {s}: {done.stderr.strip()}")
            with open(os.path.join(self.sessions_dir, s, ".fake-agent"), "w") as f:
                f.write("\n".join(self.sc.scripts[s]) + "\n")

    def _at(self, offset: float) -> bool:
        """Sleeps until `offset` seconds into the chaos phase."""
        delay = self.t0 + offset - time.time()
        if delay > 0:
            time.sleep(delay)
        return True

    def _write_loop(self) -> None:
        for m in self.sc.messages:
            self._at(m.at)
            try:
                enqueued, after = self.writers.write(m, self.seed)
                self.written[m.id] = checker.Written(m.session, m.id, m.writer, enqueued, after, m.recurrence)
            except Exception as e:
                self.violations.append(checker.Violation(m.session, m.id, f"the {m.writer} write failed: {e}"))

    def _container_loop(self) -> None:
        for f in self.sc.faults:
            if f.kind.startswith("container"):
                self._at(f.at)
                self.containers.run(f)

    def _daemon_loop(self) -> None:
        for f in self.sc.faults:
            if not f.kind.startswith("daemon"):
                continue
            self._at(f.at)
            self._check_daemon_alive()
            if f.kind == "daemon-term" and not self.daemon.wait_started():
                self.violations.append(checker.Violation("-", "-", f"daemon {self.daemon.incarnation} did not log "
                                                         "daemon.started within 30 s"))
            if f.kind == "daemon-kill":
                self.say("fault: daemon SIGKILL")
                self.daemon.kill()
            else:
                stop = self.daemon.term(wait=self.term_bound + 30, twice=f.twice)
                what = f"SIGTERM twice ({round(f.twice, 2)}s apart)" if stop.twice else "SIGTERM"
                self.say(f"fault: daemon {what}, stopped in {stop.elapsed and round(stop.elapsed, 2)}s, exit {stop.returncode}")
            time.sleep(f.pause)
            self.daemon.start()

    def _sweep_loop(self) -> None:
        """A competing `hostsweep sweep --once` every 1-4 s (seeded): it takes the lock of each
        session with no container, cleans up and settles as the daemon would, and persists its
        memos; the daemon meanwhile finds those sessions held and looks again."""
        rng = random.Random(self.seed * 7919 + 1)
        flags = [f"--{k}={DAEMON_SETTINGS[k]}" for k in SWEEP_SETTINGS]
        at = rng.uniform(1, 4)
        while at < self.a.duration:
            self._at(at)
            done = subprocess.run([self.a.hostsweep, "sweep", "--once", "--data-dir", self.data, *flags],
                                  capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                self.violations.append(checker.Violation("-", "-", f"sweep --once at {round(at, 1)}s: exit "
                                                         f"{done.returncode}: {done.stderr.strip()[:500]}"))
            else:
                self.sweeps += 1
            at += rng.uniform(1, 4)

    def _check_daemon_alive(self) -> None:
        rc = self.daemon.exited_on_its_own()
        if rc is not None:
            self.violations.append(checker.Violation("-", "-", f"daemon {self.daemon.incarnation} exited by itself, status {rc}"))
            self.daemon.start()

    def chaos(self) -> None:
        self.t0 = time.time()
        self.daemon.start()
        self.monitor.start()
        threads = [threading.Thread(target=t, name=t.__name__, daemon=True)
                   for t in (self._write_loop, self._container_loop, self._daemon_loop, self._sweep_loop)]
        if "twin" in self.a.inject:
            threads.append(threading.Thread(target=self._inject_twin, name="twin", daemon=True))
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=1.0)
            if self.daemon.lock.acquire(blocking=False):  # not while a fault is restarting it
                try:
                    self._check_daemon_alive()
                finally:
                    self.daemon.lock.release()

    def _inject_twin(self) -> None:
        self._at(self.a.duration / 2)
        for _ in range(200):  # until some session has a container to be twinned
            running = sorted({p.session for p in procs.agents(self.a.fake_agent, self.sessions_dir)})
            if running:
                inject.twin(self.a.fake_agent, self.sessions_dir, running[0], self.say).wait(timeout=30)
                return
            time.sleep(0.05)
        self.violations.append(checker.Violation("-", "-", "inject twin: no container ran to be twinned"))

    def drain(self) -> None:
        """No more faults; every script plays `normal` from its next start; waits until every
        one-shot message has ended (recurring series go on: one occurrence stays pending)."""
        for s in self.sc.sessions:
            with open(os.path.join(self.sessions_dir, s, ".fake-agent"), "w") as f:
                f.write("normal\n")
        if self.daemon.pid() is None:
            self.daemon.start()
        self.say("drain: faults stopped, every script normal")
        deadline = time.time() + self.a.drain_timeout
        while True:
            self._check_daemon_alive()
            left = self._unfinished()
            if not left:
                self.say("drain: every one-shot message has ended")
                return
            if time.time() > deadline:
                self.say(f"drain: {len(left)} one-shot messages still pending after {self.a.drain_timeout:.0f}s, e.g. {left[:5]}")
                return
            time.sleep(0.5)

    def _unfinished(self) -> list[str]:
        left = []
        for s in self.sc.sessions:
            try:
                rows, _, _ = checker.read_session(os.path.join(self.sessions_dir, s))
            except Exception:
                left.append(f"{s}/(unreadable)")
                continue
            left += [f"{s}/{mid}" for mid, r in rows.items() if r["status"] not in ("completed", "failed") and not r["recurrence"]]
        return left

    def final_stop(self) -> None:
        self.daemon.wait_started()
        stop = self.daemon.term(wait=self.term_bound + 30, final=True)
        self.say(f"final SIGTERM: stopped in {stop.elapsed and round(stop.elapsed, 2)}s, exit {stop.returncode}")
        self.monitor.stop()
        left = procs.agents(self.a.fake_agent, self.sessions_dir)
        for p in left:
            self.violations.append(checker.Violation(p.session, "-", f"process {p.pid} (group {p.pgid}) left after the final stop"))
            procs.signal_verified(p, signal.SIGKILL)
        for cgroup in sorted(self.monitor.cgroups):
            if procs.cgroup_populated(cgroup):
                self.violations.append(checker.Violation(os.path.basename(cgroup), "-",
                                                         f"cgroup {cgroup} still populated after the final stop"))

    def check(self) -> dict:
        for stop in self.daemon.stops:
            what = "final " if stop.final else ""
            if stop.elapsed is None:
                self.violations.append(checker.Violation("-", "-", f"{what}SIGTERM of daemon {stop.incarnation} not completed "
                                                         f"within {self.term_bound + 30:.0f}s (bound {self.term_bound:.0f}s)"))
            elif stop.elapsed > (self.double_term_bound if stop.twice else self.term_bound):
                bound = self.double_term_bound if stop.twice else self.term_bound
                self.violations.append(checker.Violation("-", "-", f"{what}SIGTERM{' twice' if stop.twice else ''} of daemon "
                                                         f"{stop.incarnation} took {stop.elapsed:.2f}s, over its bound {bound:.1f}s"))
            elif stop.twice and stop.returncode == 1 and not log_says(self.log_dir, stop.incarnation, "with work abandoned"):
                self.violations.append(checker.Violation("-", "-", f"double SIGTERM of daemon {stop.incarnation}: exit 1 "
                                                         "without daemon.stopped saying work was abandoned"))
            elif stop.returncode != 0 and not (stop.twice and stop.returncode == 1):
                self.violations.append(checker.Violation("-", "-", f"{what}SIGTERM of daemon {stop.incarnation}: exit status {stop.returncode}"))
        for s in self.monitor.violations:
            self.violations.append(checker.Violation(s.session, "-", f"at {writer_mod.iso(s.at)}: {s.what}"))
        if self.monitor.samples < max(10, self.a.duration):  # a monitor that barely looked proves nothing
            self.violations.append(checker.Violation("-", "-", f"the monitor took only {self.monitor.samples} samples"))

        # A run whose faults did not happen proves nothing: each kind must have been injected.
        kills = self.containers.kills
        for kind, count in (("daemon SIGKILL", self.daemon.kills),
                            ("daemon SIGTERM", sum(1 for s in self.daemon.stops if not s.final)),
                            ("daemon SIGTERM twice", sum(1 for s in self.daemon.stops if s.twice)),
                            ("container SIGKILL", len(kills)),
                            ("container SIGKILL inside a write transaction", sum(1 for k in kills if k.in_txn)),
                            ("competing sweep --once", self.sweeps)):
            if count == 0:
                self.violations.append(checker.Violation("-", "-", f"the run injected no {kind}: it proves nothing of it"))
        rows_by_id: dict[str, dict] = {}
        for s in self.sc.sessions:
            self.violations += checker.check_session(s, os.path.join(self.sessions_dir, s), self.written, MAX_TRIES)
            try:
                rows, _, _ = checker.read_session(os.path.join(self.sessions_dir, s))
                rows_by_id.update(rows)
            except Exception:
                pass  # check_session reported it
        log = logs_mod.read(self.log_dir, os.path.join(self.data, "logs"))
        killed: dict[str, list[float]] = {}
        for k in self.containers.kills:
            killed.setdefault(k.session, []).append(k.at)
        doubled = {s.incarnation for s in self.daemon.stops if s.twice}
        found, self.explained_errors = checker.check_log(log, rows_by_id, killed, doubled)
        self.violations += found
        latencies = stats.fault_free_latencies(self.written, rows_by_id, log, self.daemon.down, self.containers.kills)
        if not latencies:  # a reader that misses the claims (they moved once) would say nothing else
            self.violations.append(checker.Violation("-", "-", "no fault-free message was measured: the latency figures "
                                                     "say nothing (are the containers' claim lines still read?)"))
        return self.figures(rows_by_id, log, latencies)

    def figures(self, rows_by_id, log, latencies) -> dict:
        by_status: dict[str, int] = {}
        for r in rows_by_id.values():
            by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        kills = self.containers.kills
        injected = {
            "daemon SIGKILL": self.daemon.kills,
            "daemon SIGTERM (and restart)": sum(1 for s in self.daemon.stops if not s.final),
            "of which a second SIGTERM followed": sum(1 for s in self.daemon.stops if s.twice),
            "double SIGTERM exits with work abandoned (status 1)": sum(1 for s in self.daemon.stops if s.twice and s.returncode == 1),
            "container SIGKILL at a random instant": sum(1 for k in kills if k.kind == "container-kill"),
            "container SIGKILL inside its write transaction": sum(1 for k in kills if k.in_txn),
            "container SIGKILL just after its transaction (aimed at one)": sum(1 for k in kills if k.kind == "container-kill-in-txn" and not k.in_txn),
            "container faults skipped (no container running)": sum(self.containers.skipped.values()),
            "competing sweep --once runs": self.sweeps,
        }
        events = {}
        for e in log.events:
            events[e["event"]] = events.get(e["event"], 0) + 1
        behaviours = {}
        for script in self.sc.scripts.values():
            for line in script:
                name = line.split()[0]
                behaviours[name] = behaviours.get(name, 0) + 1
        return {
            "seed": self.seed, "duration_s": self.a.duration, "sessions": len(self.sc.sessions),
            "messages_written": len(self.written),
            "messages_by_writer": {w: sum(1 for x in self.written.values() if x.writer == w) for w in ("cli", "direct")},
            "scheduled": sum(1 for x in self.written.values() if x.process_after),
            "recurring_series": sum(1 for x in self.written.values() if x.recurrence),
            "rows_by_status": by_status, "daemon_incarnations": self.daemon.incarnation,
            "faults": injected, "events": events, "script_lines_by_behaviour": behaviours,
            "monitor": {"samples": self.monitor.samples, "max_sessions_running": self.monitor.max_running,
                        "cgroups_checked_empty_at_end": len(self.monitor.cgroups)},
            "sigterm_s": [round(s.elapsed, 2) for s in self.daemon.stops if s.elapsed is not None],
            "sigterm_bound_s": self.term_bound,
            "fault_free_latency_s": stats.summary(latencies),
            "session_errors_explained": self.explained_errors,
            "violations": len(self.violations),
        }

    def cleanup(self) -> None:
        """Whatever happened, nothing of this run is left running."""
        self.monitor.stop()
        if self.daemon.pid() is not None:
            self.daemon.kill()
        for p in procs.agents(self.a.fake_agent, self.sessions_dir):
            procs.signal_verified(p, signal.SIGKILL)


def main(argv=None) -> int:
    a = arguments(argv)
    soak = Soak(a)
    print(f"soak: seed {a.seed} (replay with --seed {a.seed}); work dir {soak.work}", flush=True)
    print(f"soak: {soak.sc.summary()}", flush=True)

    def interrupted(signo, _frame):
        raise KeyboardInterrupt(f"signal {signo}")

    signal.signal(signal.SIGTERM, interrupted)
    try:
        soak.setup()
        soak.chaos()
        soak.drain()
        soak.final_stop()
        inject.after_stop(a.inject, soak.sessions_dir, soak.sc.sessions, soak.say)
        figures = soak.check()
    except KeyboardInterrupt as e:
        print(f"soak: interrupted ({e}); seed {a.seed}", flush=True)
        return 1
    finally:
        soak.cleanup()
    print(json.dumps(figures, indent=2), flush=True)
    if a.summary:
        with open(a.summary, "w") as f:
            json.dump(figures, f, indent=2)
    for v in soak.violations:
        print(v.line(a.seed), flush=True)
    if soak.violations:
        print(f"soak: FAILED with {len(soak.violations)} violations; seed {a.seed}; files and logs kept in {soak.work}", flush=True)
        return 1
    print(f"soak: passed, no violation; seed {a.seed}", flush=True)
    if not a.keep:
        shutil.rmtree(soak.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
