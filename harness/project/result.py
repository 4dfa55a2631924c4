"""The team's suite on both versions, compared test by test: the `--project` phase's typed
result (`results.json`: `project`).

A test that newly fails on the new version, a test module (or conftest) that no longer
collects there, or requirements that do not install with a side's MLflow, block the upgrade;
flaky tests and tests that ran on one version only are caveats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.project.compare import (
    FLAKY,
    NEWLY_FAILING,
    NEWLY_FAILING_MODULE,
    ONE_SIDE,
    TestComparison,
)
from harness.results.phase import Upgrade, named


@dataclass
class ProjectResult:
    path: str
    args: list[str]
    set_aside: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)  # side → why it did not install
    tests: list[TestComparison] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "args": self.args, "set_aside": self.set_aside,
                "conflicts": self.conflicts, "summary": self.summary,
                "tests": [t.to_dict() for t in self.tests], "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProjectResult:
        return cls(data.get("path", ""), list(data.get("args", [])),
                   list(data.get("set_aside", [])), dict(data.get("conflicts", {})),
                   [TestComparison.from_dict(t) for t in data.get("tests", [])],
                   dict(data.get("summary", {})), dict(data.get("seconds", {})))

    def judged(self, verdict: str) -> list[TestComparison]:
        return [t for t in self.tests if t.verdict == verdict]

    def blocking(self, upgrade: Upgrade) -> list[str]:
        reasons = [f"your requirements do not install with the {side} side's MLflow: "
                   f"{why.splitlines()[0] if why else ''}" for side, why in self.conflicts.items()]
        new = upgrade.new or "the new version"
        modules = self.judged(NEWLY_FAILING_MODULE)
        if modules:
            reasons.append(f"{len(modules)} of your test modules no longer collect on {new}: "
                           + named([f"{t.test} ({t.message}"
                                    + (f", at {t.team_frame}" if t.team_frame else "") + ")"
                                    for t in modules]))
        broken = self.judged(NEWLY_FAILING)
        if broken:
            reasons.append(f"{len(broken)} of your tests newly fail on {new}: " + named(
                [t.test + (f" ({t.mlflow_call or t.team_frame})"
                           if t.mlflow_call or t.team_frame else "") for t in broken]))
        return reasons

    def caveats(self, upgrade: Upgrade) -> list[str]:
        flaky, one_side = self.judged(FLAKY), self.judged(ONE_SIDE)
        return ([f"{len(flaky)} of your tests are flaky (a re-run changed the outcome): "
                 + named([t.test for t in flaky])] if flaky else []) + (
            [f"{len(one_side)} of your tests ran on one version only: "
             + named([t.test for t in one_side])] if one_side else [])
