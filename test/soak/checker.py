"""The invariants, checked once the final SIGTERM has stopped the daemon: from the session
files, the daemon's event log and what the monitor and the fault injector saw."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass

from logs import parse_ts


@dataclass
class Violation:
    session: str
    message: str
    what: str

    def line(self, seed: int) -> str:
        return f"VIOLATION seed={seed} session={self.session} message={self.message}: {self.what}"


@dataclass
class Written:
    session: str
    id: str
    writer: str
    enqueued: float  # wall clock, just before the write began
    process_after: float | None
    recurrence: str | None


def _open_ro(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    db.row_factory = sqlite3.Row
    return db


def read_session(session_dir: str):
    """(messages_in rows by id, processing_ack rows by id, replies by in_reply_to)."""
    with _open_ro(os.path.join(session_dir, "inbound.db")) as db:
        rows = {r["id"]: dict(r) for r in db.execute("SELECT * FROM messages_in")}
    with _open_ro(os.path.join(session_dir, "outbound.db")) as db:
        acks = {r["message_id"]: dict(r) for r in db.execute("SELECT * FROM processing_ack")}
        replies: dict[str, list[dict]] = {}
        for r in db.execute("SELECT id, in_reply_to, content FROM messages_out"):
            try:
                content = json.loads(r["content"])
            except (TypeError, json.JSONDecodeError):
                content = {}
            replies.setdefault(r["in_reply_to"], []).append({"id": r["id"], **content})
    return rows, acks, replies


def is_hot_journal(path: str) -> bool:
    """A journal SQLite would roll back: there, not empty, its header's first byte not zero.
    A writer SIGKILLed while it syncs its journal can leave one whose header it had just zeroed
    (before writing the real one): inert, ignored and overwritten by the next writer, and no
    transaction of it ever reached the database."""
    if os.path.islink(path) or not os.path.isfile(path):
        return os.path.lexists(path)  # a symlink or anything else there is wrong in any case
    with open(path, "rb") as f:
        first = f.read(1)
    return first not in (b"", b"\x00")


def check_session(session: str, session_dir: str, written: dict[str, Written], max_tries: int) -> list[Violation]:
    out: list[Violation] = []

    def v(message: str, what: str) -> None:
        out.append(Violation(session, message, what))

    for leftover in ("inbound.db-journal", "outbound.db-journal"):
        if is_hot_journal(os.path.join(session_dir, leftover)):
            v("-", f"{leftover} left behind after the final stop (a hot journal nobody rolled back)")
    try:
        rows, acks, replies = read_session(session_dir)
    except sqlite3.Error as e:
        v("-", f"session files cannot be read after the final stop: {e}")
        return out

    for w in written.values():
        if w.session == session and w.id not in rows:
            v(w.id, f"lost: written by {w.writer} but not in messages_in")

    for mid, ack in acks.items():
        if ack["status"] == "processing":
            v(mid, "claim left 'processing' in processing_ack after the final stop")

    series: dict[str, list[dict]] = {}
    for mid, row in rows.items():
        status, tries = row["status"], row["tries"] or 0
        mine = replies.get(mid, [])
        first = written.get(row["series_id"] or "")
        if first is not None and first.recurrence:
            series.setdefault(row["series_id"], []).append(row)
        elif row["series_id"] != mid:
            v(mid, f"series_id {row['series_id']!r} names no recurring message the soak wrote")
        if tries > max_tries:
            v(mid, f"tries {tries} exceeds max-tries {max_tries}")
        if len(mine) > 1:
            v(mid, f"processed {len(mine)} times: replies {[r['id'] for r in mine]}")
        reported = [r for r in mine if r.get("status") == "failed"]
        for r in reported:
            if r.get("behavior") != "fail":
                v(mid, f"the container reported it failed under behaviour {r.get('behavior')!r}, not 'fail'")
        if status == "completed":
            if not mine:
                v(mid, "completed, but no container replied to it")
            elif reported:
                v(mid, "completed, but the container reported it failed")
        elif status == "failed":
            if not reported and tries != max_tries:
                v(mid, f"failed at tries {tries}, neither at max-tries {max_tries} nor reported by the container")
            if mine and not reported:
                v(mid, "failed, but the container replied that it completed")
        elif status == "pending":
            if not row["recurrence"]:
                v(mid, f"left pending (tries {tries}, process_after {row['process_after']}) with nothing to run it")
        else:
            v(mid, f"ends in status {status!r}")

    for sid, occurrences in series.items():
        # Live: waiting to run (pending), or finished and not yet fanned out (recurrence set).
        live = [r for r in occurrences if r["status"] == "pending" or r["recurrence"]]
        if len(live) != 1:
            v(sid, f"recurring series has {len(live)} live occurrences ({[r['id'] for r in live]}), not exactly 1")
        fires: dict[str, list[str]] = {}
        for r in occurrences:
            if r["id"] != sid and r["process_after"]:
                fires.setdefault(r["process_after"], []).append(r["id"])
        for when, ids in fires.items():
            if len(ids) > 1:
                v(sid, f"recurring series fired twice for {when}: {ids}")
    return out


def caused_by_scenario(e: dict, killed: dict[str, list[float]], logs, doubled: set[int]) -> bool:
    """Whether a session.error is one the scenario caused: the hot journal of a container that
    was killed mid-commit (SIGKILLed by the soak, or signalled by the daemon itself), seen in
    the moments around its death; or work a daemon abandoned because a second SIGTERM told it
    to give up (its incarnation is in `doubled`). Everything else is unexplained."""
    if (e.get("reason") or "").startswith("stop abandoned:") and e.get("incarnation") in doubled:
        return True
    if "has a hot journal" not in (e.get("reason") or ""):
        return False
    at, session = parse_ts(e["ts"]), e.get("session")
    if any(at - 15 <= k <= at + 1 for k in killed.get(session, [])):
        return True
    # Killed by any signal: the daemon's own SIGTERM (a stop, an idle stop) ends a fake agent
    # mid-commit as surely as a SIGKILL does.
    return any(x.get("session") == session and x.get("signal") and abs(parse_ts(x["ts"]) - at) <= 15
               for x in logs.of("container.exited"))


def check_log(logs, rows_by_id: dict[str, dict], killed: dict[str, list[float]],
              doubled: set[int]) -> tuple[list[Violation], int]:
    """The log's violations, and how many session.errors the scenario explained."""
    out: list[Violation] = []
    explained = 0
    for e in logs.of("session.error"):
        if caused_by_scenario(e, killed, logs, doubled):
            explained += 1
            continue
        out.append(Violation(e.get("session", "-"), "-",
                             f"session.error the scenario did not cause (daemon {e['incarnation']}, {e['ts']}): {e.get('reason')}"))
    for e in logs.of("recurrence.invalid"):
        out.append(Violation(e.get("session", "-"), e.get("message", "-"), f"recurrence.invalid: {e.get('reason')}"))
    for name, final in (("message.completed", "completed"), ("message.failed", "failed")):
        for e in logs.of(name):
            mid = e.get("message", "-")
            row = rows_by_id.get(mid)
            if row is not None and row["status"] != final:
                out.append(Violation(e.get("session", "-"), mid, f"logged {name} but ends {row['status']}"))
    for line in logs.unparsed[:20]:
        out.append(Violation("-", "-", f"a log line that is neither a JSON event nor the fake agent's: {line[:300]}"))
    return out, explained
