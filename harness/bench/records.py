"""The benchmark's result as typed records, read from the JSON-shaped result the phase
produces (`results.json`'s `benchmark`): what the verdict and the report writers work with.

The runner builds its result as plain data (it is written as it is, and older results files
load the same way); these records are how everything else reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PARTS = (("server_side", "server"), ("client_side", "client"))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class ConnectionResult:
    """One operation's comparison within one kind of connection (`reused`, `fresh`)."""

    rounds: int
    old_median_s: float
    new_median_s: float
    ratio: float | None
    low: float | None
    high: float | None
    verdict: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConnectionResult:
        return cls(int(data.get("rounds", 0)), float(data.get("old_median_s", 0.0)),
                   float(data.get("new_median_s", 0.0)), _float(data.get("ratio")),
                   _float(data.get("low")), _float(data.get("high")), str(data.get("verdict")))


@dataclass(frozen=True)
class OperationResult:
    """One operation of a part: its verdict, estimate and interval, samples, what differs."""

    name: str
    verdict: str
    ratio: float | None
    low: float | None
    high: float | None
    rounds: int
    old_median_s: float
    new_median_s: float
    description: str = ""
    more_rounds: int | None = None
    extrapolated: int = 0
    censored: bool = False  # older results: new-side samples stopped, a lower bound
    median_rule_fails: bool = False
    decided_by: str = "interval"
    by_connection: dict[str, ConnectionResult] = field(default_factory=dict)
    old_samples: list[float] = field(default_factory=list)
    new_samples: list[float] = field(default_factory=list)
    explained: bool | None = None  # what the versions do differently explains it (explain.py)
    explanation: str = ""
    error: str = ""  # a large transfer a server could not complete: why (runner.py)

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> OperationResult:
        samples = data.get("samples") or {}
        return cls(
            name, str(data.get("verdict", "")), _float(data.get("ratio")),
            _float(data.get("low")), _float(data.get("high")), int(data.get("rounds", 0)),
            float(data.get("old_median_s", 0.0)), float(data.get("new_median_s", 0.0)),
            str(data.get("description", "")), data.get("more_rounds"),
            int(data.get("extrapolated", 0) or 0), bool(data.get("censored")),
            bool(data.get("median_rule_fails")), str(data.get("decided_by", "interval")),
            {mode: ConnectionResult.from_dict(m)
             for mode, m in (data.get("by_connection") or {}).items()},
            list(samples.get("old", [])), list(samples.get("new", [])),
            data.get("explained"), str(data.get("explanation", "")), str(data.get("error", "")))

    def ratio_text(self) -> str:
        """`1.43× [1.34, 1.51]`; `≈ 5.00× …` when samples were extrapolated from a capped
        transfer (`≥` for older results whose new-side samples were stopped); no interval for
        an operation measured once."""
        bound = "≈ " if self.extrapolated else "≥ " if self.censored else ""
        if self.ratio is None:
            return "—"
        if self.low is None or self.high is None:
            return f"{bound}{self.ratio:.2f}× (one round)"
        return f"{bound}{self.ratio:.2f}× [{self.low:.2f}, {self.high:.2f}]"


@dataclass(frozen=True)
class GateResult:
    passed: bool = True
    regressions: list[str] = field(default_factory=list)
    inconclusive: list[str] = field(default_factory=list)
    fail_on_inconclusive: bool = False
    not_client_differences: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(bool(data.get("passed", True)), list(data.get("regressions") or []),
                   list(data.get("inconclusive") or []), bool(data.get("fail_on_inconclusive")),
                   list(data.get("not_client_differences") or []))


@dataclass(frozen=True)
class PartResult:
    """The server side (the old version's client against both servers) or the client side
    (each version's own client against the new server)."""

    name: str
    label: str
    rounds: int
    gate: GateResult
    operations: list[OperationResult]

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> PartResult:
        return cls(name, dict(PARTS)[name], int(data.get("rounds", 0)),
                   GateResult.from_dict(data.get("gate") or {}),
                   [OperationResult.from_dict(op, item)
                    for op, item in (data.get("operations") or {}).items()])

    def counted(self, op: OperationResult) -> bool:
        """Whether the gate counts this operation (a client-side difference nothing in what
        the clients do explains does not count: `analysis.discount_client_side`)."""
        return op.name not in self.gate.not_client_differences


@dataclass(frozen=True)
class RemedyGate:
    """The gate re-run against a server started with a cause's remedy."""

    args: list[str]
    error: str = ""
    rounds: int = 0
    still_regress: list[str] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemedyGate | None:
        if not data.get("args"):
            return None
        ratios = {op: float(item["ratio"]) for op, item in (data.get("operations") or {}).items()
                  if item.get("ratio") is not None}
        return cls(list(data["args"]), str(data.get("error", "")), int(data.get("rounds", 0)),
                   list(data.get("still_regress") or []), ratios)


@dataclass(frozen=True)
class Evidence:
    """What a cause rests on: the shape of the extra time, and per operation what differs."""

    pattern: str = "unknown"
    median_offset_ms: float | None = None
    median_ratio: float | None = None
    reused_vs_fresh: dict[str, tuple[float, float]] = field(default_factory=dict)
    what_differs: dict[str, tuple[bool, str]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        split = {op: (float(m.get("reused", 0)), float(m.get("fresh", 0)))
                 for op, m in (data.get("reused_vs_fresh") or {}).items()}
        differs = {label: (bool(entry.get("explained")), str(entry.get("explanation", "")))
                   for label, entry in (data.get("what_differs") or {}).items()
                   if isinstance(entry, dict)}
        return cls(str(data.get("pattern", "unknown")), _float(data.get("median_offset_ms")),
                   _float(data.get("median_ratio")), split, differs)


@dataclass(frozen=True)
class CauseResult:
    """Regressed operations that share one cause (id `unexplained`: they share none)."""

    id: str
    title: str
    operations: list[str]
    evidence: Evidence
    summary: str = ""
    source: str = ""
    fix: str = ""
    remedy: str = ""
    remedy_gate: RemedyGate | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CauseResult:
        return cls(str(data.get("id", "")), str(data.get("title", data.get("id", ""))),
                   list(data.get("operations") or []),
                   Evidence.from_dict(data.get("evidence") or {}), str(data.get("summary", "")),
                   str(data.get("source", "")), str(data.get("fix", "")),
                   str(data.get("remedy", "")),
                   RemedyGate.from_dict(data.get("remedy_gate") or {}))


@dataclass(frozen=True)
class ProbeNote:
    """The untimed pass that counted SQL statements (`probe.py`), or why it could not."""

    probed: int = 0
    seconds: float = 0.0
    sql_unavailable: str = ""
    not_probed: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Any) -> ProbeNote | None:
        if not isinstance(data, dict) or not (data.get("probed") or data.get("sql_unavailable")):
            return None
        return cls(int(data.get("probed", 0)), float(data.get("seconds", 0.0)),
                   str(data.get("sql_unavailable", "")), list(data.get("not_probed") or []))
