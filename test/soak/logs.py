"""The daemon's logs, one file per incarnation: its JSON event lines (--log-format json); and
the fake agents' own lines (`fake-agent[PID]: ...`), which the daemon writes to each session's
container log (`DATA_DIR/logs/<group>/<session>.log` and its rotations `.log.N`, each line
`TIME STREAM F|P TEXT`), or, with container-log = off or an older daemon, leaves on its own
stderr."""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
from dataclasses import dataclass, field

_AGENT = re.compile(r"^fake-agent\[(\d+)\]: (.*)$")
_CLAIMED = re.compile(r"^claimed (\S+)")
_CONTAINER_LINE = re.compile(r"^\S+ (?:stdout|stderr) [FP] (.*)$")


def parse_ts(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Logs:
    events: list[dict] = field(default_factory=list)  # each with "incarnation" added
    claims: dict[str, int] = field(default_factory=dict)  # message id -> times claimed
    unparsed: list[str] = field(default_factory=list)  # neither an event nor an agent line

    def of(self, name: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == name]


def _count_claim(logs: Logs, agent_text: str) -> None:
    c = _CLAIMED.match(agent_text)
    if c:
        logs.claims[c.group(1)] = logs.claims.get(c.group(1), 0) + 1


def read(log_dir: str, container_logs: str | None = None) -> Logs:
    logs = Logs()
    for path in sorted(glob.glob(os.path.join(container_logs, "*", "*.log*"))) if container_logs else []:
        with open(path, "rb") as f:
            for raw in f:
                line = _CONTAINER_LINE.match(raw.decode("utf-8", errors="replace").rstrip("\n"))
                m = _AGENT.match(line.group(1)) if line else None
                if m:
                    _count_claim(logs, m.group(2))
    paths = sorted(glob.glob(os.path.join(log_dir, "daemon-*.log")), key=lambda p: int(p.rsplit("-", 1)[1][:-4]))
    for path in paths:
        incarnation = int(path.rsplit("-", 1)[1][:-4])
        with open(path, "rb") as f:
            for raw in f:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                if not line:
                    continue
                if line.startswith("{"):
                    try:
                        e = json.loads(line)
                    except json.JSONDecodeError:
                        logs.unparsed.append(f"{os.path.basename(path)}: {line}")
                        continue
                    e["incarnation"] = incarnation
                    logs.events.append(e)
                    continue
                m = _AGENT.match(line)
                if m:
                    _count_claim(logs, m.group(2))
                    continue
                logs.unparsed.append(f"{os.path.basename(path)}: {line}")
    return logs
