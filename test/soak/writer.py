"""The two writers of inbound.db: `hostsweep enqueue`, and a second process's own sqlite3.

The direct writer does what PROTOCOL.md says another host-side process may do: one IMMEDIATE
transaction that inserts a `pending` row with the next even `seq`, `series_id` = `id`,
`tries` 0 and `trigger` 1, the file left in `journal_mode=DELETE` (it is never changed here),
a busy timeout of 5 s, and the connection closed after the write (PROTOCOL.md invariant 3).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import time


def iso(t: float) -> str:
    """ISO 8601 UTC with milliseconds and Z, the form the host writes."""
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def sqlite_form(t: float) -> str:
    """SQLite's datetime('now') form (UTC, whole seconds, no marker), rounded up so that it is
    never earlier than asked."""
    d = dt.datetime.fromtimestamp(int(t) + (1 if t % 1 else 0), dt.timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S")


class Writers:
    def __init__(self, hostsweep: str, data_dir: str, group: str):
        self.hostsweep = hostsweep
        self.data_dir = data_dir
        self.group = group

    def inbound(self, session: str) -> str:
        return f"{self.data_dir}/sessions/{self.group}/{session}/inbound.db"

    def write(self, m, seed: int) -> tuple[float, float | None]:
        """Writes message `m`; returns (when the write began, its process_after or None)."""
        content = json.dumps({"text": f"soak message {m.id}", "seed": seed})
        began = time.time()
        process_after = began + m.delay if m.delay else None
        if m.writer == "cli":
            cmd = [self.hostsweep, "enqueue", "--data-dir", self.data_dir, "--session", m.session,
                   "--id", m.id, "--content", content]
            if process_after is not None:
                cmd += ["--process-after", iso(process_after)]
            if m.recurrence:
                cmd += ["--recurrence", m.recurrence]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise RuntimeError(f"hostsweep enqueue {m.id} failed ({done.returncode}): {done.stderr.strip()}")
        else:
            after = None
            if process_after is not None:
                after = iso(process_after) if m.time_form == "iso" else sqlite_form(process_after)
            self._insert(m, content, after)
        return began, process_after

    def _insert(self, m, content: str, process_after: str | None) -> None:
        db = sqlite3.connect(self.inbound(m.session), timeout=5.0, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            db.execute("BEGIN IMMEDIATE")
            (top,) = db.execute("SELECT coalesce(max(seq), 0) FROM messages_in").fetchone()
            seq = 2 if top < 2 else (top + 2 if top % 2 == 0 else top + 1)
            db.execute(
                """INSERT INTO messages_in (id, seq, kind, timestamp, status, process_after, recurrence,
                                            series_id, tries, "trigger", content, on_wake)
                   VALUES (?, ?, 'chat', ?, 'pending', ?, ?, ?, 0, 1, ?, 0)""",
                (m.id, seq, iso(time.time()), process_after, m.recurrence, m.id, content))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()
