"""The replay's result (`results.json`: `traffic`, see docs/results-format.md) and what it says
about the upgrade: a difference in the team's own traffic that no catalog entry explains
blocks it; documented changes, known defects of the new version, findings, routes slower
than the threshold and a replay cut short are caveats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.catalog.classify import explain, finding, route_defect
from harness.results.phase import Upgrade, named
from harness.traffic.compare import STATUS, FieldStats

EXPECTED, DEFECT, FINDING, UNEXPECTED = "expected", "known_defect", "finding", "unexpected"
ORDER = (UNEXPECTED, DEFECT, EXPECTED, FINDING)


def classify(route: str, name: str, stats: FieldStats, upgrade: Upgrade) -> dict[str, Any]:
    """A difference as the catalog knows it: documented change, known defect of the new
    version, finding, or unexpected (`scenario` is `traffic ROUTE`, `path` the field)."""
    first = stats.examples[0] if stats.examples else {}
    old, new = first.get("old"), first.get("new")
    scenario = f"traffic {route}"
    entry = explain(scenario, name, old, new, upgrade.old, upgrade.new)
    if entry is not None:
        return {"classification": EXPECTED, "catalog_id": entry.id, "summary": entry.summary,
                "source": entry.source}
    defect = route_defect(route, [e["request"] for e in stats.examples], upgrade.new)
    if defect is not None:
        return {"classification": DEFECT, "catalog_id": defect.id, "summary": defect.summary,
                "source": defect.source}
    kind = finding(scenario, name, old, new)
    if kind is not None:
        return {"classification": FINDING, "catalog_id": kind.id, "summary": kind.summary,
                "source": ""}
    return {"classification": UNEXPECTED, "catalog_id": "", "summary": "", "source": ""}


def difference(route: str, name: str, stats: FieldStats, upgrade: Upgrade) -> dict[str, Any]:
    return {"route": route, "field": name, **classify(route, name, stats, upgrade),
            "count": stats.differs, "seen": stats.seen, "noise": stats.noise,
            "examples": stats.examples}


def ordered(differences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Status changes first, then error fields, then the rest; most requests first."""
    def key(item: dict[str, Any]) -> tuple[int, int, str, str]:
        rank = 0 if item["field"] == STATUS else 1 if item["field"].startswith(
            ("error_code", "message")) else 2
        return rank, -item["count"], item["route"], item["field"]
    return sorted(differences, key=key)


@dataclass
class TrafficResult:
    """The replay's data as `Replay.summary` and the phase made it (results.json's
    `traffic`), read through the methods below."""

    data: dict[str, Any]

    @property
    def differences(self) -> list[dict[str, Any]]:
        return list(self.data.get("differences", []))

    def of(self, classification: str) -> list[dict[str, Any]]:
        return [d for d in self.differences if d.get("classification") == classification]

    def slower_routes(self) -> list[str]:
        routes = self.data.get("timing", {}).get("routes", {})
        return [f"{route} {item['ratio']:.2f}×" for route, item in routes.items()
                if item.get("verdict") == "regression"]

    def blocking(self, upgrade: Upgrade) -> list[str]:
        unexpected = self.of(UNEXPECTED)
        if not unexpected:
            return []
        return [f"{len(unexpected)} undocumented difference(s) in your replayed traffic: "
                + named([f"{d['route']} {d['field']}" for d in unexpected])]

    def caveats(self, upgrade: Upgrade) -> list[str]:
        reasons = []
        if self.data.get("skipped"):
            return [f"your traffic was not replayed: {self.data['skipped']}"]
        defects = sorted({d["catalog_id"] for d in self.of(DEFECT)})
        if defects:
            reasons.append(f"known defect(s) of {upgrade.new} in your traffic: "
                           + named(defects))
        expected = sorted({d["catalog_id"] for d in self.of(EXPECTED)})
        if expected:
            reasons.append(f"{len(expected)} documented behaviour change(s) your traffic "
                           "meets: " + named(expected))
        findings = sorted({d["catalog_id"] for d in self.of(FINDING)})
        if findings:
            reasons.append(f"finding(s) in your traffic: {named(findings)}")
        slower = self.slower_routes()
        if slower:
            threshold = self.data.get("timing", {}).get("threshold", 0.2)
            reasons.append(f"{len(slower)} route(s) of your traffic more than {threshold:.0%} "
                           f"slower in the replay: {named(slower)}")
        if self.data.get("stopped"):
            reasons.append(f"your traffic was replayed in part: {self.data['stopped']}")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrafficResult:
        return cls(data)

    def headline(self) -> str:
        replay = self.data.get("replay", {})
        return (f"your traffic: {replay.get('replayed', 0)} requests replayed, "
                f"{len(self.of(UNEXPECTED))} undocumented difference(s)")
