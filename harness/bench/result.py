"""The benchmark phase's result (`results.json`: `benchmark`, see docs/results-format.md), and
what it says about the upgrade: operations slower than the threshold block it (said once per
cause, with the remedy's outcome); an undecided one whose estimate is over the threshold is a
caveat (every undecided one blocks it with `--fail-on-inconclusive`); an undecided one whose
estimate is under the threshold is only in the performance section."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from harness.results.phase import MAX_NAMED, Upgrade, named

GROUPS = (("server_side", "server"), ("client_side", "client"))


@dataclass
class BenchmarkResult:
    """The phase's analysed gate as the runner produced it; the parts it decides on are read
    through the properties below."""

    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkResult:
        return cls(data)

    @property
    def threshold(self) -> float:
        return float(self.data.get("settings", {}).get("threshold", 0.2))

    @property
    def strict(self) -> bool:
        """`--fail-on-inconclusive`: an undecided operation fails the gate."""
        return bool(self.data.get("server_side", {}).get("gate", {}).get("fail_on_inconclusive"))

    @property
    def passed(self) -> bool:
        gates = [self.data.get(group, {}).get("gate", {}) for group, _ in GROUPS
                 if group in self.data]
        return all(gate.get("passed") for gate in gates)

    def with_verdicts(self, verdict: str, over: bool = False) -> list[str]:
        """`op (server) 1.25×` or `op (client)` for each operation with this verdict (`over`:
        only those whose estimate is above the threshold)."""
        found = []
        for group, label in GROUPS:
            part = self.data.get(group, {})
            discounted = set(part.get("gate", {}).get("not_client_differences", []))
            for op, item in part.get("operations", {}).items():
                ratio = item.get("ratio") or 0.0
                if item.get("verdict") != verdict or (over and ratio <= 1 + self.threshold) \
                        or op in discounted:
                    continue
                found.append(f"{op} ({label}) {ratio:.2f}×"
                             if verdict == "regression" or over else f"{op} ({label})")
        return found

    def blocking(self, upgrade: Upgrade) -> list[str]:
        slower = self.with_verdicts("regression")
        reasons = [f"{len(slower)} operation(s) more than {self.threshold:.0%} slower: "
                   + _by_cause(slower, self.data.get("causes") or [])] if slower else []
        undecided = self.with_verdicts("inconclusive")
        if self.strict and undecided:
            reasons.append(f"performance undecided for {len(undecided)} operation(s), which "
                           "--fail-on-inconclusive fails: " + named(undecided))
        return reasons

    @property
    def skipped(self) -> str:
        """Why the benchmark did not run although it was asked for ("" when it ran)."""
        return str(self.data.get("skipped", ""))

    def caveats(self, upgrade: Upgrade) -> list[str]:
        """Only what a reader can act on: an operation the rounds left undecided whose
        estimate is above the threshold. The others are in the performance section."""
        if self.skipped:
            return [f"performance not measured: {self.skipped}"]
        over = self.with_verdicts("inconclusive", over=True)
        if not over or self.strict:
            return []
        return [f"performance undecided for {len(over)} operation(s) whose estimate is over "
                f"the {self.threshold:.0%} threshold: " + named(over)]

    def summary(self) -> str:
        """For the closing line: `performance gate passed` or the operations that failed it."""
        if self.passed:
            return "performance gate passed"
        slower = sorted({op for group, _ in GROUPS for op in self.data.get(group, {}).get(
            "gate", {}).get("regressions", [])})
        return f"performance gate failed ({', '.join(slower)})"


def _by_cause(slower: list[str], causes: list[dict[str, Any]]) -> str:
    """The slower operations said once per cause: a recognised cause with its remedy's
    outcome, then what no cause explains."""
    if not causes:
        return named(slower)
    parts = []
    for cause in causes[:MAX_NAMED]:
        ops = cause.get("operations", [])
        if cause.get("id") == "unexplained":
            parts.append(f"{len(ops)} with no known cause ({named(ops)})")
            continue
        text = f"{len(ops)} from one cause, {cause.get('title', cause.get('id'))}"
        remedy = cause.get("remedy_gate") or {}
        if remedy.get("error"):
            text += f" (with `{shlex.join(remedy['args'])}`: could not be verified)"
        elif remedy.get("args"):
            still = remedy.get("still_regress") or []
            text += (f" (with `{shlex.join(remedy['args'])}`: "
                     + (f"{len(still)} still slower: {named(still)})" if still
                        else "none slower)"))
        parts.append(text)
    left = len(causes) - MAX_NAMED
    return "; ".join(parts) + (f"; and {left} more cause(s)" if left > 0 else "")
