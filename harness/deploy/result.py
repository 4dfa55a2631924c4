"""The deployment's result, as results.json holds it (`deployment`, absent when the run had no
description and its servers' health gave nothing to say) and as the verdict reads it.

- `sides`: each side's description as run (environment by name; a secret's value never);
- `reach`: each public URL probed against the same request by 127.0.0.1, with the fix of a
  refusal only the public URL meets (the failed check `deployment::public_url` says it too);
- `drift`: the two deployments side by side, the differences a reader may not intend flagged;
- `health`: per server whose workers were replaced or whose /health went unanswered during the
  scenarios, one finding: cause, remedy, and the checks it touched, re-run with the remedy.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.results.phase import Upgrade, named


@dataclass
class SideDeployment:
    role: str
    source: str = ""
    public_url: str = ""
    ingress_headers: list[str] = field(default_factory=list)
    strip_prefix: bool = False
    server_options: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)  # a secret: "(secret)"
    auth: dict[str, str] = field(default_factory=dict)
    image: str = ""
    left_out: list[str] = field(default_factory=list)


@dataclass
class Reach:
    """One public URL: the server's answer through it and by 127.0.0.1."""

    role: str
    version: str
    url: str
    public: str  # "200", "403 Invalid Host header - …"
    loopback: str
    refused: bool = False  # only the public URL is refused
    fix: str = ""  # the catalog's fix, when it knows one
    source: str = ""


@dataclass
class DriftRow:
    setting: str
    old: str
    new: str
    flagged: bool = False  # a difference a reader may not intend
    note: str = ""


@dataclass
class Rerun:
    test: str
    side: str
    before: str  # the status and first line the first run gave
    after: str  # the status the re-run with the remedy gave


@dataclass
class HealthFinding:
    role: str
    server: str
    version: str
    restarts: list[str] = field(default_factory=list)  # the first log lines that record them
    restart_count: int = 0
    unanswered: list[list[float]] = field(default_factory=list)  # [from, to] seconds
    max_load: float = 0.0
    cpus: int = 0
    workers: int = 0
    sgi: str = ""
    cause: str = ""
    remedy: list[str] = field(default_factory=list)  # server arguments
    reruns: list[Rerun] = field(default_factory=list)

    def line(self) -> str:
        what = []
        count = max(self.restart_count, len(self.restarts))
        if count:
            what.append(f"{count} worker restart(s)")
        if self.unanswered:
            seconds = sum(end - start for start, end in self.unanswered)
            what.append(f"{len(self.unanswered)} period(s) without an answer on /health "
                        f"({seconds:.0f}s)")
        remedy = shlex.join(self.remedy)
        reruns = ""
        if self.reruns:
            passed = sum(1 for r in self.reruns if r.after == "passed")
            reruns = (f"; {len(self.reruns)} check(s) they touched re-run with it: "
                      f"{passed} passed")
        return (f"{self.server} ({self.version}) had {' and '.join(what)} during the "
                f"scenarios: {self.cause}; remedy: `{remedy}`{reruns}")


@dataclass
class DeploymentResult:
    """The phase result the verdict reads: a refused public URL blocks; health findings and
    flagged drift are caveats."""

    sides: list[SideDeployment] = field(default_factory=list)
    reach: list[Reach] = field(default_factory=list)
    drift: list[DriftRow] = field(default_factory=list)
    health: list[HealthFinding] = field(default_factory=list)

    def blocking(self, upgrade: Upgrade) -> list[str]:
        return [f"the {_side(r.role)} server ({r.version}) refuses requests for its public URL "
                f"{r.url} and answers them by 127.0.0.1: {r.public}"
                + (f"; fix: {r.fix}" if r.fix else "") for r in self.reach if r.refused]

    def caveats(self, upgrade: Upgrade) -> list[str]:
        reasons = [finding.line() for finding in self.health]
        flagged = [row.setting for row in self.drift if row.flagged]
        if flagged:
            reasons.append(f"the two deployments differ in {len(flagged)} setting(s) you may "
                           "not intend: " + named(flagged))
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentResult:
        return cls(
            sides=[SideDeployment(**s) for s in data.get("sides", [])],
            reach=[Reach(**r) for r in data.get("reach", [])],
            drift=[DriftRow(**d) for d in data.get("drift", [])],
            health=[HealthFinding(**{**h, "reruns": [Rerun(**r) for r in h.get("reruns", [])]})
                    for h in data.get("health", [])],
        )


def _side(role: str) -> str:
    return {"from": "old", "to": "new"}.get(role, role)
