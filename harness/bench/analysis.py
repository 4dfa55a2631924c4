"""Samples in rounds, their analysis per operation, and the gate on it.

A round times an operation on both servers back to back (`Samples`: index i of old and new is
one round, with the connection it was timed on). `analyse` compares new against old within
each kind of connection (`stats.compare_strata`), settles what the rounds left straddling the
threshold (`stats.settle`), and gates the result (`regate`): a regression fails it, an
undecided operation only with --fail-on-inconclusive. An operation the budget
allowed one round is reported but inconclusive. A capped 64 MB transfer's sample is the time
the whole file takes at the rate received so far, flagged extrapolated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

from harness.bench.diagnosis import Group
from harness.bench.stats import (
    Comparison,
    Verdict,
    compare_strata,
    median_rule_fails,
    settle,
)
from harness.bench.traffic import summarize
from harness.bench.tuning import BenchSettings

OLD, NEW = "old", "new"
REUSED, FRESH = "reused", "fresh"


@dataclass
class Samples:
    """Seconds per operation and side, in round order (index i of old and new: one round),
    with the connection each pair was timed on."""

    old: dict[str, list[float]] = field(default_factory=dict)
    new: dict[str, list[float]] = field(default_factory=dict)
    extrapolated: dict[str, int] = field(default_factory=dict)  # samples of capped transfers
    connections: dict[str, list[str]] = field(default_factory=dict)
    # The requests each timed call sent, per operation and side (`traffic.summarize`).
    http: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    def add(self, timings: dict[str, dict[str, float]],
            extrapolated: dict[str, list[str]] | None = None, connection: str = REUSED,
            http: dict[str, dict[str, dict[str, Any]]] | None = None) -> None:
        for op, by_side in timings.items():
            self.old.setdefault(op, []).append(by_side[OLD])
            self.new.setdefault(op, []).append(by_side[NEW])
            self.connections.setdefault(op, []).append(connection)
        for op, sides in (http or {}).items():
            for side, record in sides.items():
                self.http.setdefault(op, {}).setdefault(side, []).append(record)
        for op, flagged in (extrapolated or {}).items():
            self.extrapolated[op] = self.extrapolated.get(op, 0) + len(flagged)

    def round_cost(self, op: str) -> float:
        """Seconds a round of `op` takes on both servers (medians); 0 when unmeasured."""
        if not self.old.get(op):
            return 0.0
        return median(self.old[op]) + median(self.new[op])

    def compare(self, op: str, threshold: float) -> tuple[Comparison, dict[str, Comparison]]:
        """New against old for `op`, within each kind of connection (`compare_strata`)."""
        return compare_strata(self.old[op], self.new[op], self.connections.get(op, []),
                              threshold)


def regate(operations: dict[str, dict[str, Any]], settings: BenchSettings) -> dict[str, Any]:
    """Fails on a regression (and on an undecided operation with --fail-on-inconclusive);
    an operation measured in one round only is inconclusive."""
    regressions = sorted(op for op, item in operations.items()
                         if item["verdict"] == Verdict.REGRESSION.value)
    inconclusive = sorted(op for op, item in operations.items()
                          if item["verdict"] == Verdict.INCONCLUSIVE.value)
    failed = bool(regressions) or (settings.fail_on_inconclusive and bool(inconclusive))
    return {"passed": not failed, "regressions": regressions, "inconclusive": inconclusive,
            "threshold": settings.threshold,
            "fail_on_inconclusive": settings.fail_on_inconclusive}


def regroup(preliminary: list[Group], final: list[Group],
            server_side: dict[str, Any]) -> list[Group]:
    """The causes diagnosed once the large transfers are in (`final`), each with the remedy
    gate its cause got before them (`preliminary`, by id); a remedy gate names as still
    slower only the operations that regressed in the main gate."""
    regressed = {op for op, item in server_side.get("operations", {}).items()
                 if item.get("verdict") == "regression"}
    verified = {group.id: group.remedy_gate for group in preliminary if group.remedy_gate}
    for group in final:
        gate_ = verified.get(group.id)
        if gate_:
            if "still_regress" in gate_:
                gate_["still_regress"] = [op for op in gate_["still_regress"] if op in regressed]
            group.remedy_gate = gate_
    return final


def analyse(samples: Samples, settings: BenchSettings) -> dict[str, Any]:
    """Each operation's comparison (by kind of connection, with its samples) and the gate."""
    operations: dict[str, Any] = {}
    for op in samples.old:
        if len(samples.old[op]) >= 2:
            operations[op] = _compared(samples, op, settings)
    # The budget allowed one round: reported, gated only with --fail-on-inconclusive.
    for op in (op for op in samples.old if len(samples.old[op]) < 2):
        operations[op] = _one_round(samples, op)
    for op, sides in samples.http.items():  # what each side's calls sent: `http`
        if op in operations:
            operations[op]["http"] = summarize(sides)
    return {"operations": operations, "gate": regate(operations, settings)}


def _compared(samples: Samples, op: str, settings: BenchSettings) -> dict[str, Any]:
    """`op` measured in two rounds or more: its comparison, overall and per connection."""
    chosen, strata = samples.compare(op, settings.threshold)
    c = settle(chosen, settings.threshold)  # the rounds are over: the end-of-rounds rule
    extrapolated = samples.extrapolated.get(op, 0)
    description = c.describe(settings.threshold)
    if extrapolated:
        description += (f" (≈: {extrapolated} of {2 * c.rounds} samples extrapolated from "
                        f"the first {settings.tuning.large_cap_s:g}s of their transfer)")
    return {
        **_plain(c), "description": description, "extrapolated": extrapolated,
        "median_rule_fails": median_rule_fails(samples.old[op], samples.new[op],
                                               settings.threshold),
        "by_connection": {mode: {"rounds": m.rounds, "old_median_s": round(m.old_median_s, 6),
                                 "new_median_s": round(m.new_median_s, 6),
                                 **{k: v for k, v in _plain(m).items()
                                    if k in ("ratio", "low", "high", "verdict")}}
                          for mode, m in strata.items()},
        "samples": {OLD: samples.old[op], NEW: samples.new[op],
                    "connection": samples.connections.get(op, [])}}


def _one_round(samples: Samples, op: str) -> dict[str, Any]:
    """`op` measured in one round only: its ratio, inconclusive."""
    old_s, new_s = median(samples.old[op]), median(samples.new[op])
    return {
        "verdict": Verdict.INCONCLUSIVE.value, "rounds": len(samples.old[op]),
        "ratio": round(new_s / old_s, 6) if old_s > 0 else None, "low": None, "high": None,
        "old_median_s": round(old_s, 6), "new_median_s": round(new_s, 6),
        "description": "inconclusive: one round only; a larger --bench-budget gives it two",
        "extrapolated": samples.extrapolated.get(op, 0), "median_rule_fails": False,
        "samples": {OLD: samples.old[op], NEW: samples.new[op]}}


def _plain(comparison: Comparison) -> dict[str, Any]:
    data = asdict(comparison)
    data["verdict"] = comparison.verdict.value
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in data.items()}


def discount_client_side(result: dict[str, Any]) -> None:
    """A client-side regression that nothing in what the clients do explains (the same
    requests, the same statements, similar own work: `explain.py`) is not a difference between
    the client versions but the server's or noise, which the server side measures: it leaves
    the client side's gate (listed as `not_client_differences`) and the causes."""
    client = result.get("client_side")
    if not client:
        return
    operations = client.get("operations", {})
    gate = client.get("gate", {})
    dropped = sorted(op for op in gate.get("regressions", [])
                     if operations.get(op, {}).get("explained") is False)
    if not dropped:
        return
    gate["regressions"] = [op for op in gate["regressions"] if op not in dropped]
    gate["not_client_differences"] = dropped
    gate["passed"] = not gate["regressions"] and not (
        gate.get("fail_on_inconclusive") and gate.get("inconclusive"))
    labels = {f"{op} (client)" for op in dropped}
    for cause in result.get("causes", []):
        cause["operations"] = [label for label in cause["operations"] if label not in labels]
    result["causes"] = [cause for cause in result.get("causes", []) if cause["operations"]]
