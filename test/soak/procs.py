"""What runs: the fake agents of this soak's sessions, read from /proc, and the session locks.

A container is a process group: the fake agent the daemon spawned leads it, and the children
that `fork-children` makes stay in it. So containers are counted by distinct process group,
per session directory named on the command line.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    start: int  # start time in clock ticks since boot: with the pid, the process's identity
    session: str


def _stat(pid: int) -> tuple[int, int, int] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    rest = data[data.rindex(")") + 2:].split()
    state, ppid, pgid, start = rest[0], int(rest[1]), int(rest[2]), int(rest[19])
    if state in ("Z", "X"):  # ended, not yet reaped: no longer a container process
        return None
    return ppid, pgid, start


def agents(fake_agent: str, sessions_dir: str) -> list[Proc]:
    """Every live fake agent whose --session-dir is under `sessions_dir`."""
    found = []
    prefix = sessions_dir.rstrip("/") + "/"
    exe_name = os.path.basename(fake_agent)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or os.path.basename(argv[0].decode(errors="replace")) != exe_name:
            continue
        args = [a.decode(errors="replace") for a in argv]
        try:
            session_dir = args[args.index("--session-dir") + 1]
        except (ValueError, IndexError):
            continue
        if not session_dir.startswith(prefix):
            continue
        st = _stat(pid)
        if st is None:
            continue
        found.append(Proc(pid, st[0], st[1], st[2], os.path.basename(session_dir.rstrip("/"))))
    return found


def still_same(p: Proc) -> bool:
    st = _stat(p.pid)
    return st is not None and st[2] == p.start


def signal_verified(p: Proc, signo: int) -> bool:
    """Sends `signo` to p through a pidfd opened and then checked against p's start time, so
    that a recycled pid is never signalled. False when p has ended."""
    try:
        fd = os.pidfd_open(p.pid)
    except OSError:
        return False
    try:
        if not still_same(p):
            return False
        signal.pidfd_send_signal(fd, signo)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


_FLOCK = "hhqqi4x"  # struct flock on x86_64 and aarch64: type, whence, start, len, pid


def lock_held(path: str) -> bool | None:
    """Whether some open file description holds a lock on `path` (F_OFD_GETLK: tests, takes
    nothing). None when the file is missing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        out = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, probe)
        return struct.unpack(_FLOCK, out)[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


def holder(path: str) -> tuple[int | None, str | None]:
    """The container pid and cgroup a holder record names (os/holder_record.cpp's format);
    (None, None) when there is none."""
    pid, cgroup = None, None
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("container "):
                    pid = int(line.split()[1])
                elif line.startswith("cgroup "):
                    cgroup = line[7:].strip()
    except (OSError, ValueError, IndexError):
        return None, None
    return pid, (cgroup if cgroup and cgroup != "-" else None)


def cgroup_populated(cgroup: str) -> bool | None:
    """What the cgroup's cgroup.events says; None when the cgroup is gone."""
    try:
        with open(os.path.join(cgroup, "cgroup.events")) as f:
            return any(line.split() == ["populated", "1"] for line in f)
    except (FileNotFoundError, NotADirectoryError):
        return None
