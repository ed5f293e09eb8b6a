"""The daemon's logs, one file per incarnation: its JSON event lines (--log-format json) and,
interleaved on the same stderr, the fake agents' own lines (`fake-agent[PID]: ...`)."""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
from dataclasses import dataclass, field

_AGENT = re.compile(r"^fake-agent\[(\d+)\]: (.*)$")
_CLAIMED = re.compile(r"^claimed (\S+)")


def parse_ts(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Logs:
    events: list[dict] = field(default_factory=list)  # each with "incarnation" added
    claims: dict[str, int] = field(default_factory=dict)  # message id -> times claimed
    unparsed: list[str] = field(default_factory=list)  # neither an event nor an agent line

    def of(self, name: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == name]


def read(log_dir: str) -> Logs:
    logs = Logs()
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
                    c = _CLAIMED.match(m.group(2))
                    if c:
                        logs.claims[c.group(1)] = logs.claims.get(c.group(1), 0) + 1
                    continue
                logs.unparsed.append(f"{os.path.basename(path)}: {line}")
    return logs
