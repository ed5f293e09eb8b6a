"""Hand-made violations, to show that the checker fails when it should (`--inject KIND,...`).

Each one breaks an invariant the way a daemon bug would: after the final stop, in the session
files; or during the chaos phase, for what the monitor samples. A run with any of them must
end with status 1 and name the injected violation.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess

KINDS = ("lost", "twice", "stuck", "claim", "series", "twin")


def _completed_one_shot(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT id FROM messages_in WHERE status = 'completed' AND recurrence IS NULL "
                     "AND series_id = id ORDER BY seq LIMIT 1").fetchone()
    return row[0] if row else None


def after_stop(kinds: set[str], sessions_dir: str, sessions: list[str], say) -> None:
    """The injections into the files, made once the daemon is stopped (one session each)."""
    for n, kind in enumerate(k for k in KINDS if k in kinds and k != "twin"):
        session = sessions[n % len(sessions)]
        base = os.path.join(sessions_dir, session)
        inbound = sqlite3.connect(os.path.join(base, "inbound.db"), isolation_level=None)
        outbound = sqlite3.connect(os.path.join(base, "outbound.db"), isolation_level=None)
        mid = _completed_one_shot(inbound)
        if kind == "lost" and mid:
            inbound.execute("DELETE FROM messages_in WHERE id = ?", (mid,))
        elif kind == "twice" and mid:
            outbound.execute("INSERT INTO messages_out (id, seq, in_reply_to, timestamp, kind, content) "
                             "VALUES (?, (SELECT max(seq) + 2 FROM messages_out), ?, '2026-01-01T00:00:00.000Z', 'chat', "
                             "'{\"status\":\"completed\",\"behavior\":\"normal\"}')", (f"reply-{mid}-injected", mid))
        elif kind == "stuck" and mid:
            inbound.execute("UPDATE messages_in SET status = 'pending', tries = 1 WHERE id = ?", (mid,))
        elif kind == "claim" and mid:
            outbound.execute("INSERT OR REPLACE INTO processing_ack VALUES (?, 'processing', datetime('now'))", (mid,))
        elif kind == "series":
            row = inbound.execute("SELECT id, series_id, recurrence FROM messages_in WHERE status = 'pending' "
                                  "AND recurrence IS NOT NULL LIMIT 1").fetchone()
            if row:
                mid = row[0]
                inbound.execute("INSERT INTO messages_in (id, seq, kind, timestamp, status, process_after, recurrence, "
                                "series_id, content) VALUES (?, (SELECT max(seq) + 2 FROM messages_in), 'chat', "
                                "'2026-01-01T00:00:00.000Z', 'pending', '2030-01-01T00:00:00.000Z', ?, ?, '{}')",
                                (f"{mid}-injected", row[2], row[1]))
        say(f"inject: {kind} in session {session} (message {mid})")
        inbound.close()
        outbound.close()


def twin(fake_agent: str, sessions_dir: str, session: str, say) -> subprocess.Popen:
    """A second container for a session, started behind the daemon's back (its own process
    group), as FAILURE-MODES 6 describes; it lives 3 s."""
    say(f"inject: twin container in session {session}")
    return subprocess.Popen([fake_agent, "--session-dir", os.path.join(sessions_dir, session), "--behavior", "normal",
                             "--poll-interval", "100ms", "--idle-exit", "3s"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
