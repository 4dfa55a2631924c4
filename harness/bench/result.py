"""The benchmark phase's result (`results.json`: `benchmark`, see docs/results-format.md), and
what it says about the upgrade: operations slower than the threshold block it (said once per
cause, with the remedy's outcome); an undecided one whose estimate is over the threshold is a
caveat (every undecided one blocks it with `--fail-on-inconclusive`); an undecided one whose
estimate is under the threshold is only in the performance section."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from harness.bench.records import PARTS, CauseResult, OperationResult, PartResult, ProbeNote
from harness.results.phase import MAX_NAMED, Upgrade, named


@dataclass
class BenchmarkResult:
    """The phase's result: written as the runner produced it (`data`, the JSON of
    results.json), read through typed records (`parts`, `causes`, `probe`)."""

    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkResult:
        return cls(data)

    @property
    def parts(self) -> list[PartResult]:
        """The server side, then the client side (those that ran)."""
        return [PartResult.from_dict(name, self.data[name]) for name, _ in PARTS
                if self.data.get(name)]

    @property
    def causes(self) -> list[CauseResult]:
        return [CauseResult.from_dict(cause) for cause in self.data.get("causes") or []]

    @property
    def probe(self) -> ProbeNote | None:
        return ProbeNote.from_dict(self.data.get("probe"))

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.data.get("settings") or {})

    @property
    def threshold(self) -> float:
        return float(self.settings.get("threshold", 0.2))

    @property
    def injected(self) -> list[tuple[str, float]]:
        """The latency injected on the new side (calibration): (operation, fraction)."""
        return [(str(op), float(fraction)) for op, fraction in self.settings.get("inject") or []]

    @property
    def seconds(self) -> float:
        return float(self.data.get("seconds", 0.0))

    @property
    def strict(self) -> bool:
        """`--fail-on-inconclusive`: an undecided operation fails the gate."""
        return any(part.gate.fail_on_inconclusive for part in self.parts
                   if part.name == "server_side")

    @property
    def passed(self) -> bool:
        return all(part.gate.passed for part in self.parts)

    @property
    def skipped(self) -> str:
        """Why the benchmark did not run although it was asked for ("" when it ran)."""
        return str(self.data.get("skipped", ""))

    def operations(self) -> list[tuple[PartResult, OperationResult]]:
        """Every operation the gate counts, with its part."""
        return [(part, op) for part in self.parts for op in part.operations if part.counted(op)]

    def with_verdicts(self, verdict: str, over: bool = False) -> list[str]:
        """`op (server) 1.25×` or `op (client)` for each operation with this verdict (`over`:
        only those whose estimate is above the threshold)."""
        found = []
        for part, op in self.operations():
            ratio = op.ratio or 0.0
            if op.verdict != verdict or (over and ratio <= 1 + self.threshold):
                continue
            found.append(f"{op.name} ({part.label}) {ratio:.2f}×"
                         if verdict == "regression" or over else f"{op.name} ({part.label})")
        return found

    def blocking(self, upgrade: Upgrade) -> list[str]:
        slower = self.with_verdicts("regression")
        reasons = [f"{len(slower)} operation(s) more than {self.threshold:.0%} slower: "
                   + _by_cause(slower, self.causes)] if slower else []
        undecided = self.with_verdicts("inconclusive")
        if self.strict and undecided:
            reasons.append(f"performance undecided for {len(undecided)} operation(s), which "
                           "--fail-on-inconclusive fails: " + named(undecided))
        return reasons

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
        slower = sorted({op for part in self.parts for op in part.gate.regressions})
        return f"performance gate failed ({', '.join(slower)})"


def _by_cause(slower: list[str], causes: list[CauseResult]) -> str:
    """The slower operations said once per cause: a recognised cause with its remedy's
    outcome, then what no cause explains."""
    if not causes:
        return named(slower)
    parts = []
    for cause in causes[:MAX_NAMED]:
        ops = cause.operations
        if cause.id == "unexplained":
            parts.append(f"{len(ops)} with no known cause ({named(ops)})")
            continue
        text = f"{len(ops)} from one cause, {cause.title}"
        remedy = cause.remedy_gate
        if remedy is not None and remedy.error:
            text += f" (with `{shlex.join(remedy.args)}`: could not be verified)"
        elif remedy is not None:
            still = remedy.still_regress
            text += (f" (with `{shlex.join(remedy.args)}`: "
                     + (f"{len(still)} still slower: {named(still)})" if still
                        else "none slower)"))
        parts.append(text)
    left = len(causes) - MAX_NAMED
    return "; ".join(parts) + (f"; and {left} more cause(s)" if left > 0 else "")
