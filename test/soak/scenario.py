"""The scenario: every random choice of a soak run, drawn up front from one seed.

Drawing the whole plan before anything runs means `--seed N` replays the same sessions,
scripts, messages and faults in the same order; only the instants at which the machine runs
them differ. Each concern draws from its own stream (random.Random(f"{seed}:{name}")), so
changing how many messages are drawn does not change which faults are drawn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Every behaviour of hostsweep-fake-agent (docs/FAKE-AGENT.md), with the weight it gets in a
# session's script and how its argument is drawn. `normal` dominates so that work progresses.
BEHAVIOURS = [
    ("normal", 8, None),
    ("fail", 1, None),
    ("crash-after-claim", 2, None),
    ("hang-after-claim", 1, None),
    ("exit-immediately", 1, lambda r: str(r.choice([0, 1, 3, 127]))),
    ("slow-start", 1, lambda r: r.choice(["300ms", "1s", "4s"])),  # 4s outlasts the claim tolerance
    ("tool", 1, lambda r: r.choice(["1s", "3s"])),  # silent 80% of it, within the widened window
    ("ignore-sigterm", 1, None),
    ("fork-children", 1, None),
]
BEHAVIOUR_NAMES = [b[0] for b in BEHAVIOURS]

# Recurring series fire every few seconds (6-field cron: seconds first).
CRONS = ["*/2 * * * * *", "*/3 * * * * *", "*/5 * * * * *", "*/7 * * * * *"]


@dataclass
class Message:
    at: float  # seconds after the chaos phase starts, when it is written
    session: str
    id: str
    writer: str  # "cli" (hostsweep enqueue) or "direct" (sqlite3 straight into inbound.db)
    delay: float  # process_after = write time + delay; 0: due at once (no process_after)
    recurrence: str | None
    time_form: str  # how a direct write spells process_after: "iso" or "sqlite"


@dataclass
class Fault:
    at: float
    kind: str  # daemon-kill, daemon-term, container-kill, container-kill-in-txn
    session: str | None = None  # preferred victim for container faults
    pause: float = 0.0  # daemon faults: how long the daemon stays down
    twice: float | None = None  # daemon-term: a second SIGTERM this many seconds after the first


@dataclass
class Scenario:
    seed: int
    duration: float
    group: str
    sessions: list[str]
    scripts: dict[str, list[str]]
    messages: list[Message]
    faults: list[Fault] = field(default_factory=list)

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for f in self.faults:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        writers = sum(1 for m in self.messages if m.writer == "direct")
        return (f"seed {self.seed}: {len(self.sessions)} sessions, {len(self.messages)} messages "
                f"({writers} direct, {sum(1 for m in self.messages if m.delay)} scheduled, "
                f"{sum(1 for m in self.messages if m.recurrence)} recurring), planned faults {kinds}")


def _stream(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")


def _script(r: random.Random) -> list[str]:
    names, weights = [b[0] for b in BEHAVIOURS], [b[1] for b in BEHAVIOURS]
    lines = []
    for _ in range(r.randint(4, 14)):
        name = r.choices(names, weights)[0]
        arg = dict((b[0], b[2]) for b in BEHAVIOURS)[name]
        lines.append(f"{name} {arg(r)}" if arg else name)
    # The script's last line repeats for every later start: mostly normal, sometimes not, so
    # that some sessions keep misbehaving for the whole run.
    lines.append("normal" if r.random() < 0.7 else r.choice(["fail", "crash-after-claim", "fork-children", "ignore-sigterm"]))
    return lines


def make(seed: int, duration: float, sessions: int, messages: int) -> Scenario:
    group = "soak"
    names = [f"s{i:02d}" for i in range(sessions)]
    r = _stream(seed, "scripts")
    scripts = {s: _script(r) for s in names}

    r = _stream(seed, "messages")
    write_window = duration * 0.85  # the last writes still have time to become due in the run
    series_budget = max(1, sessions // 3)
    planned: list[Message] = []
    for n in range(messages):
        session = r.choice(names)
        recurring = series_budget > 0 and r.random() < 0.03
        if recurring:
            series_budget -= 1
        planned.append(Message(
            at=r.uniform(0, write_window),
            session=session,
            id=f"m{n:05d}-{session}",
            writer="direct" if r.random() < 0.5 else "cli",
            delay=r.choice([0, 0, 0, r.uniform(1, 12)]),
            recurrence=r.choice(CRONS) if recurring else None,
            time_form=r.choice(["iso", "sqlite"]),
        ))
    planned.sort(key=lambda m: m.at)

    r = _stream(seed, "faults")
    faults: list[Fault] = []
    # Daemon faults about every 15 s, container faults about every 1.5 s (scaled by duration).
    # Both daemon kinds at least once, whatever the seed.
    daemon_kinds = ["daemon-kill", "daemon-term"]
    for n in range(max(2, int(duration / 15))):
        kind = daemon_kinds[n] if n < 2 else r.choice(daemon_kinds)
        faults.append(Fault(at=r.uniform(3, duration - 3), kind=kind, pause=r.uniform(0.1, 3.0)))
    for _ in range(max(4, int(duration / 1.5))):
        faults.append(Fault(at=r.uniform(1, duration - 1),
                            kind=r.choice(["container-kill", "container-kill-in-txn"]), session=r.choice(names)))
    # Some SIGTERMs are followed by a second one (an impatient operator, systemd's stop after a
    # reload): the daemon must then kill at once and give up shortly after. Their own stream,
    # so that the rest of a seed's plan stays what it was; at least one, whatever the seed.
    r = _stream(seed, "double-term")
    terms = [f for f in faults if f.kind == "daemon-term"]
    for f in terms:
        if r.random() < 0.4:
            f.twice = r.uniform(0.05, 0.6)
    if terms and not any(f.twice for f in terms):
        terms[0].twice = r.uniform(0.05, 0.6)
    faults.sort(key=lambda f: f.at)
    return Scenario(seed, duration, group, names, scripts, planned, faults)
