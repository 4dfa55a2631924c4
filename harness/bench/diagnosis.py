"""Regressions grouped by cause: one finding per cause, with its evidence, instead of one line
per slower operation.

Works on the analysed gate (`analysis.analyse`), whose operations carry their samples and the
comparison within `reused` and within `fresh` rounds (`by_connection`):

- **connection level**: an operation that regresses on kept-alive connections but not on a
  new connection per request is slowed by the connection, not by the server's work;
- **shape**: across the regressed operations, a constant extra time per request (the same
  milliseconds whatever the operation costs) or a proportional slowdown (the same ratio);
- **catalogued causes** (`catalog/performance.toml`) whose signature, version range and server
  set-up fit become one group with their source and remedy; the runner then verifies the
  remedy by re-running the gate against a server started with it;
- **what differs** (`explain.py`): each operation's requests, SQL statements and client's own
  work on both sides, and each group's `evidence.what_differs` for its operations.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from statistics import median
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.bench.explain import explain
from harness.bench.operations import ARTIFACTS, BY_NAME

KEEP_ALIVE = "keep-alive"
ARTIFACT_TRANSFER = "artifact-transfer"
OFFSET_SPREAD = 2.0  # per-request offsets within this factor of each other: a constant offset
RATIO_SPREAD = 1.5  # ratios within this factor of each other: a proportional slowdown
CONNECTION_SHARE = 2 / 3  # of the extra time that must vanish on new connections
GROUPS = (("server_side", "server"), ("client_side", "client"))


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    signature: str
    affected: SpecifierSet
    summary: str
    source: str
    remedy: str
    remedy_args: tuple[str, ...] = ()
    fix: str = ""
    sgi: str = ""
    min_workers: int = 0
    offset_ms: tuple[float, float] = (0.0, float("inf"))

    def fits(self, version: str, setup: dict[str, Any] | None) -> bool:
        try:
            if Version(version) not in self.affected:
                return False
        except InvalidVersion:
            return False
        if setup:
            if self.sgi and setup.get("sgi") not in (None, self.sgi):
                return False
            if int(setup.get("workers") or 0) < self.min_workers:
                return False
        return True


@lru_cache(maxsize=1)
def load_causes() -> tuple[Cause, ...]:
    text = resources.files("harness.catalog").joinpath("performance.toml").read_text()
    return tuple(
        Cause(raw["id"], raw["title"], raw["signature"], SpecifierSet(raw["affected"]),
              raw["summary"], raw["source"], raw["remedy"], tuple(raw.get("remedy_args", ())),
              raw.get("fix", ""), raw.get("sgi", ""), int(raw.get("min_workers", 0)),
              tuple(raw.get("offset_ms", (0.0, float("inf")))))
        for raw in tomllib.loads(text).get("cause", [])
    )


@dataclass
class Group:
    """Regressed operations that share one cause (or share none: `id` "unexplained")."""

    id: str
    title: str
    operations: list[str]
    evidence: dict[str, Any]
    signature: str = ""
    summary: str = ""
    source: str = ""
    fix: str = ""
    remedy: str = ""
    remedy_args: list[str] = field(default_factory=list)
    remedy_gate: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", [], {})
                or k in ("id", "operations")}


def connection_level(item: dict[str, Any], threshold: float) -> bool:
    """Slower beyond the threshold on kept-alive connections, and most of the extra time
    (`CONNECTION_SHARE`) gone with a new connection per request. Extra *time*, not ratios: a
    constant delay in the server's work shows a smaller ratio on the slower new connections,
    which is not a connection-level cause."""
    modes = item.get("by_connection") or {}
    reused, fresh = modes.get("reused"), modes.get("fresh")
    if not reused or not fresh or reused.get("verdict") != "regression":
        return False
    reused_extra = float(reused["new_median_s"]) - float(reused["old_median_s"])
    fresh_extra = float(fresh["new_median_s"]) - float(fresh["old_median_s"])
    return reused_extra > 0 and fresh_extra <= (1 - CONNECTION_SHARE) * reused_extra


def per_request_offset_ms(op: str, old_s: float, new_s: float) -> float | None:
    """Extra milliseconds per REST request, for operations with a known request count."""
    requests = BY_NAME[op].requests if op in BY_NAME else None
    if not requests:
        return None
    return (new_s - old_s) * 1000 / requests


def shape(points: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Constant per-request offset, proportional slowdown, or neither, from (old, new) medians
    in seconds per operation."""
    ratios = {op: new / old for op, (old, new) in points.items() if old > 0}
    offsets = {op: off for op, (old, new) in points.items()
               if (off := per_request_offset_ms(op, old, new)) is not None}
    found: dict[str, Any] = {
        "ratios": {op: round(r, 2) for op, r in ratios.items()},
        "offset_ms_per_request": {op: round(o, 1) for op, o in offsets.items()},
    }
    positive = [o for o in offsets.values() if o > 0]
    if len(points) < 2:
        found["pattern"] = "one operation"
    elif len(positive) >= 2 and len(positive) == len(offsets) \
            and max(positive) <= OFFSET_SPREAD * min(positive) \
            and max(ratios.values()) > RATIO_SPREAD * min(ratios.values()):
        found["pattern"] = "constant offset per request"
    elif ratios and max(ratios.values()) <= RATIO_SPREAD * min(ratios.values()):
        found["pattern"] = "proportional"
    else:
        found["pattern"] = "mixed"
    if positive:
        found["median_offset_ms"] = round(median(positive), 1)
    if ratios:
        found["median_ratio"] = round(median(ratios.values()), 2)
    return found


def _regressed(bench: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(group, op, item) for group, _ in GROUPS
            for op, item in (bench.get(group) or {}).get("operations", {}).items()
            if item.get("verdict") == "regression"]


def _label(group: str, op: str) -> str:
    return f"{op} ({dict(GROUPS)[group]})"


@dataclass(frozen=True)
class Servers:
    """The two servers a catalogued cause is checked against: it can explain a difference
    only when it applies to the new server and not to the old one (a cause both servers share,
    e.g. the same uvicorn bridge on both sides of a 3.x → 3.x upgrade, cannot)."""

    new_version: str
    new_setup: dict[str, Any] | None = None
    old_version: str = ""
    old_setup: dict[str, Any] | None = None

    def explained_by(self, cause: Cause) -> bool:
        return cause.fits(self.new_version, self.new_setup) and not (
            self.old_version and cause.fits(self.old_version, self.old_setup))


def diagnose(bench: dict[str, Any], new_version: str, setup: dict[str, Any] | None = None,
             causes: tuple[Cause, ...] | None = None, old_version: str = "",
             old_setup: dict[str, Any] | None = None) -> list[Group]:
    """The regressions of a benchmark result grouped by cause, catalogued causes first; a
    catalogued cause only where it applies to the new server and not to the old one."""
    threshold = float(bench.get("settings", {}).get("threshold", 0.2))
    causes = load_causes() if causes is None else causes
    servers = Servers(new_version, setup, old_version, old_setup)
    regressed = _regressed(bench)
    if not regressed:
        return explain([], bench, new_version)
    keep_alive = [(g, op, item) for g, op, item in regressed if connection_level(item, threshold)]
    groups = [_keep_alive_group(keep_alive, causes, servers)] if keep_alive else []
    explained = {_label(g, op) for g, op, _ in keep_alive}
    rest = [(g, op, item) for g, op, item in regressed if _label(g, op) not in explained]
    transfers = [(g, op, item) for g, op, item in rest
                 if op in BY_NAME and BY_NAME[op].routes == ARTIFACTS]
    artifact_cause = next((c for c in causes if c.signature == ARTIFACT_TRANSFER
                           and servers.explained_by(c)), None)
    if transfers and artifact_cause:
        evidence = shape({op: (item["old_median_s"], item["new_median_s"])
                          for _, op, item in transfers})
        fresh = {_label(g, op): item["by_connection"]["fresh"]["ratio"]
                 for g, op, item in transfers if "fresh" in item.get("by_connection", {})}
        if fresh:
            evidence["new_connection_ratios"] = fresh  # as slow without keep-alive
        labels = [_label(g, op) for g, op, _ in transfers]
        groups.append(_from_cause(artifact_cause, labels, evidence))
        explained.update(labels)
        rest = [entry for entry in rest if _label(entry[0], entry[1]) not in explained]
    if rest:
        evidence = shape({op: (item["old_median_s"], item["new_median_s"])
                          for g, op, item in rest if g == "server_side"}
                         or {op: (item["old_median_s"], item["new_median_s"])
                             for _, op, item in rest})
        groups.append(Group("unexplained", "Slower on new and kept-alive connections alike",
                            [_label(g, op) for g, op, _ in rest], evidence))
    return explain(groups, bench, new_version)


def _keep_alive_group(keep_alive: list[tuple[str, str, dict[str, Any]]],
                      causes: tuple[Cause, ...], servers: Servers) -> Group:
    """The regressions slower on kept-alive connections only: one group, its catalogued
    cause's when one applies (and its offset fits), else a group of its own."""
    points = {op: (item["by_connection"]["reused"]["old_median_s"],
                   item["by_connection"]["reused"]["new_median_s"])
              for g, op, item in keep_alive if g == "server_side"} or {
        op: (item["by_connection"]["reused"]["old_median_s"],
             item["by_connection"]["reused"]["new_median_s"]) for _, op, item in keep_alive}
    evidence = shape(points)
    evidence["reused_vs_fresh"] = {
        _label(g, op): {mode: item["by_connection"][mode]["ratio"]
                        for mode in ("reused", "fresh")} for g, op, item in keep_alive}
    also = [_label(g, op) for g, op, item in keep_alive
            if item["by_connection"]["fresh"].get("verdict") == "regression"]
    if also:  # a second cause on top: the remedy's gate shows them still slower
        evidence["also_slower_on_new_connections"] = also
    offset = evidence.get("median_offset_ms")
    cause = next((c for c in causes if c.signature == KEEP_ALIVE and servers.explained_by(c)
                  and (offset is None or c.offset_ms[0] <= offset <= c.offset_ms[1])), None)
    labels = [_label(g, op) for g, op, _ in keep_alive]
    if cause:
        return _from_cause(cause, labels, evidence)
    return Group("keep-alive-latency", "Slower on kept-alive connections only (no catalogued "
                 "cause)", labels, evidence)


def _from_cause(cause: Cause, labels: list[str], evidence: dict[str, Any]) -> Group:
    return Group(cause.id, cause.title, labels, evidence, cause.signature, cause.summary,
                 cause.source, cause.fix, cause.remedy, list(cause.remedy_args))
