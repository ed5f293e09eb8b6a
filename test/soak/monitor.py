"""Samples, all through the run, what runs: at most one container per session at every
sampled instant (distinct process groups of fake agents per session directory), and for every
container the daemon runs, its session lock held and its holder record naming it.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import procs


@dataclass
class Sighting:
    at: float
    session: str
    what: str


@dataclass
class Monitor:
    fake_agent: str
    data_dir: str
    group: str
    daemon_pid: callable  # () -> the live daemon's pid or None
    daemon_signalled: callable  # () -> when the daemon was last signalled (wall clock)
    interval: float = 0.1
    samples: int = 0
    max_running: int = 0
    violations: list[Sighting] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _holder_misses: dict[str, tuple[int, float]] = field(default_factory=dict)
    cgroups: set[str] = field(default_factory=set)  # every container cgroup a holder record named

    @property
    def sessions_dir(self) -> str:
        return os.path.join(self.data_dir, "sessions", self.group)

    def host_dir(self, session: str) -> str:
        return os.path.join(self.data_dir, "run", "sessions", self.group, session)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception as e:  # a sampler that dies silently would pass every run
                self.violations.append(Sighting(time.time(), "-", f"monitor failed: {e!r}"))
                return

    def _daemon_undisturbed(self, daemon: int, since: float) -> bool:
        # A daemon signalled since the sample began may be exiting: the kernel drops its locks
        # before the process is gone (and Popen.poll() says None while another thread waits
        # for it), so what the sample saw of its locks proves nothing.
        return self.daemon_pid() == daemon and self.daemon_signalled() < since - 0.05

    def sample(self) -> None:
        now = time.time()
        daemon = self.daemon_pid()
        found = procs.agents(self.fake_agent, self.sessions_dir)
        self.samples += 1
        groups: dict[str, dict[int, list[procs.Proc]]] = {}
        for p in found:
            groups.setdefault(p.session, {}).setdefault(p.pgid, []).append(p)
        self.max_running = max(self.max_running, len(groups))
        for session, by_group in groups.items():
            live = {g: ps for g, ps in by_group.items() if any(procs.still_same(p) for p in ps)}
            if len(live) > 1:
                self.violations.append(Sighting(now, session, "two containers at once: process groups " + ", ".join(
                    f"{g} (pids {[p.pid for p in ps]})" for g, ps in sorted(live.items()))))
        if daemon is None:
            return
        for p in found:
            if p.ppid != daemon or p.pid != p.pgid:
                continue
            # A child of the live daemon: the daemon took the lock before it started it and
            # keeps it until the container has ended, so it must be held now.
            held = procs.lock_held(os.path.join(self.host_dir(p.session), "lock"))
            if not held and procs.still_same(p) and self._daemon_undisturbed(daemon, now):
                self.violations.append(Sighting(now, p.session, f"container pid {p.pid} runs with its session lock "
                                                f"{'missing' if held is None else 'free'}"))
            # The record is written just after the spawn: a mismatch is a violation only when
            # it lasts (3 s) for the same container.
            named, cgroup = procs.holder(os.path.join(self.host_dir(p.session), "holder"))
            if cgroup:
                self.cgroups.add(cgroup)
            if named == p.pid:
                self._holder_misses.pop(p.session, None)
                continue
            first = self._holder_misses.setdefault(p.session, (p.pid, now))
            if first[0] != p.pid:
                self._holder_misses[p.session] = (p.pid, now)
            elif now - first[1] > 3.0 and procs.still_same(p) and self._daemon_undisturbed(daemon, now):
                self.violations.append(Sighting(now, p.session, f"holder record names pid {named}, "
                                                f"not the running container {p.pid}, for {now - first[1]:.1f}s"))
                self._holder_misses.pop(p.session, None)
