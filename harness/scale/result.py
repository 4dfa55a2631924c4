"""What the run says about the store's size (`results.json`: `scale`): the store, the
migration's downtime, the slowest searches and each server's memory, put together after the
benchmark from what the store, the migration drill and the benchmark measured.

It blocks nothing itself (a slower search is the gate's, a changed row the drill's checks');
it is a caveat when the upgrade held writes for HELD_CAVEAT_S or more, or writes failed while
it ran: the downtime a team plans for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.results.phase import Upgrade, named

HELD_CAVEAT_S = 10.0
SEARCHES_SHOWN = 8
SIDES = {"from": "old", "to": "new"}
READ_PREFIXES = ("search_", "get_")
MIGRATION_KEYS = ("seconds", "from_revision", "to_revision", "planted_slow_step")


def migration_summary(observed: dict[str, Any]) -> dict[str, Any] | None:
    """The drill's upgrade as the section needs it (None when the drill did not run)."""
    upgrade = observed.get("upgrade")
    if not isinstance(upgrade, dict) or "timing" not in upgrade:
        return None
    writer = dict(upgrade.get("writer") or {})
    revisions = writer.pop("revisions", None) or upgrade["timing"].get("revisions", [])
    return {**{key: upgrade.get(key) for key in MIGRATION_KEYS},
            "startup_seconds": upgrade["timing"].get("startup_seconds"),
            "exit_seconds": upgrade["timing"].get("exit_seconds"),
            "revisions": revisions, "writer": writer,
            "database_bytes": upgrade.get("database_bytes"),
            "rows_checked": observed.get("rows_checked")}


def slowest_reads(benchmark: dict[str, Any]) -> list[dict[str, Any]]:
    """The server side's searches and reads, slowest on the new server first."""
    operations = benchmark.get("server_side", {}).get("operations", {})
    reads = [{"operation": op, **{key: item.get(key) for key in (
        "old_median_s", "new_median_s", "ratio", "low", "high", "verdict", "rounds")}}
             for op, item in operations.items() if op.startswith(READ_PREFIXES)
             or op.endswith("_at_scale")]
    return sorted(reads, key=lambda r: -(r["new_median_s"] or 0.0))[:SEARCHES_SHOWN]


@dataclass
class ScaleResult:
    """The parts as `compose` put them together (results.json's `scale`)."""

    data: dict[str, Any]

    @classmethod
    def compose(cls, store: dict[str, Any], observed: dict[str, Any],
                benchmark: dict[str, Any] | None) -> ScaleResult:
        data: dict[str, Any] = {"store": store}
        migration = migration_summary(observed)
        if migration is not None:
            data["migration"] = migration
        if benchmark:
            data["searches"] = slowest_reads(benchmark)
            servers = (benchmark.get("memory") or {}).get("servers") or {}
            data["memory"] = {SIDES.get(side, side): found for side, found in servers.items()}
        return cls(data)

    @property
    def writer(self) -> dict[str, Any]:
        return dict((self.data.get("migration") or {}).get("writer") or {})

    def blocking(self, upgrade: Upgrade) -> list[str]:
        return []

    def caveats(self, upgrade: Upgrade) -> list[str]:
        writer = self.writer
        reasons = []
        longest = writer.get("longest") or {}
        if (longest.get("seconds") or 0.0) >= HELD_CAVEAT_S:
            reasons.append(
                f"`mlflow db upgrade` held writes for {longest['seconds']:.1f}s "
                f"({longest.get('kind')}, from revision {longest.get('revision')}): plan that "
                "downtime, or stop writers while it runs")
        if writer.get("failed"):
            reasons.append(f"{writer['failed']} write(s) failed while `mlflow db upgrade` ran: "
                           + named(list(writer.get("errors") or [])) + "; stop writers while "
                           "it runs")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)  # a copy: what a reader changes stays out of the result

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScaleResult:
        return cls(dict(data))
