"""End-to-end latency of fault-free messages: from when a message became due (its write, or
its process_after) to its message.completed event."""

from __future__ import annotations

import math

from logs import parse_ts


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted `values`."""
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]


def fault_free_latencies(written, rows_by_id, logs, down, kills) -> list[float]:
    """A message is fault-free when it ran once (one claim, no retry), completed, and no fault
    overlapped its life: no daemon downtime, no container kill in its session."""
    completed_at: dict[str, float] = {}
    for e in logs.of("message.completed"):
        completed_at.setdefault(e["message"], parse_ts(e["ts"]))
    retried = {e["message"] for e in logs.of("message.retried")}
    out = []
    for w in written.values():
        row = rows_by_id.get(w.id)
        if w.recurrence or row is None or row["status"] != "completed" or (row["tries"] or 0) != 0:
            continue
        if w.id in retried or logs.claims.get(w.id, 0) != 1 or w.id not in completed_at:
            continue
        due = max(w.enqueued, w.process_after or 0.0)
        done = completed_at[w.id]
        if any(a < done and b > due for a, b in down):
            continue
        if any(k.session == w.session and due <= k.at <= done for k in kills):
            continue
        out.append(max(0.0, done - due))
    return sorted(out)


def summary(latencies: list[float]) -> dict:
    if not latencies:
        return {"count": 0}
    return {"count": len(latencies), **{f"p{p}": round(percentile(latencies, p), 3) for p in (50, 90, 99)},
            "max": round(latencies[-1], 3)}
