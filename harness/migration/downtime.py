"""What the upgrade costs a team that keeps writing: the writer's waits per revision.

Every write is placed in the revision that was running when it started (`TimedUpgrade`), and
a failed write in the one running when it failed (a deadlock is detected where the second
lock is taken): per revision, how many writes started, the longest wait, how many failed;
overall, the longest wait (its kind and revision), the failed writes and the writes' usual time
before the first revision (the baseline a wait is read against). A write that waits longer
than HELD_S was held by the upgrade (a lock), not slowed by the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any

from harness.migration.timed import TimedUpgrade
from harness.migration.writer import Write

HELD_S = 1.0
ERRORS_KEPT = 5


@dataclass(frozen=True)
class Longest:
    kind: str
    revision: str
    seconds: float


def _longest(writes: list[Write], upgrade: TimedUpgrade) -> Longest | None:
    if not writes:
        return None
    slowest = max(writes, key=lambda w: w.seconds)
    return Longest(slowest.kind, upgrade.revision_at(slowest.began), slowest.seconds)


def per_revision(writes: list[Write], upgrade: TimedUpgrade) -> list[dict[str, Any]]:
    """Each applied revision with its time and the writes that started while it ran."""
    rows = []
    for revision in upgrade.revisions:
        mine = [w for w in writes if upgrade.revision_at(w.began) == revision.revision]
        slowest = max(mine, key=lambda w: w.seconds) if mine else None
        held = sorted({w.kind for w in mine if w.seconds >= HELD_S})
        rows.append({**revision.to_dict(), "writes": len(mine),
                     "failed": sum(1 for w in writes if not w.ok and upgrade.revision_at(
                         w.ended) == revision.revision),
                     "longest_wait_s": round(slowest.seconds, 3) if slowest else None,
                     "held": held})
    return rows


def attribute(writes: list[Write], upgrade: TimedUpgrade) -> dict[str, Any]:
    """The writer's side of the upgrade: per revision, overall, and the failed writes."""
    during = [w for w in writes if upgrade.began <= w.began < upgrade.ended]
    before = [w.seconds for w in writes if w.ended <= (upgrade.revisions[0].started
                                                       if upgrade.revisions else upgrade.ended)]
    longest = _longest(during, upgrade)
    failed = [w for w in during if not w.ok]
    held = [w for w in during if w.seconds >= HELD_S]
    return {
        "kinds": sorted({w.kind for w in writes}),
        "writes": len(during),
        "failed": len(failed),
        "errors": sorted({f"{w.kind} ({upgrade.revision_at(w.ended)}): {w.error}"
                          for w in failed})[:ERRORS_KEPT],
        "baseline_s": round(median(before), 4) if before else None,
        "longest_wait_s": round(longest.seconds, 3) if longest else None,
        "longest": None if longest is None else {
            "kind": longest.kind, "revision": longest.revision,
            "seconds": round(longest.seconds, 3)},
        "held_writes": len(held),
        "held_kinds": sorted({w.kind for w in held}),
        "by_kind": by_kind(during, upgrade),
        "revisions": per_revision(during, upgrade),
    }


def by_kind(writes: list[Write], upgrade: TimedUpgrade) -> dict[str, Any]:
    """Per kind of write: how many, failed, and its longest wait with the revision it began in."""
    found: dict[str, Any] = {}
    for kind in sorted({w.kind for w in writes}):
        mine = [w for w in writes if w.kind == kind]
        slowest = _longest(mine, upgrade)
        assert slowest is not None
        found[kind] = {"writes": len(mine), "failed": sum(1 for w in mine if not w.ok),
                       "longest_wait_s": round(slowest.seconds, 3),
                       "revision": slowest.revision}
    return found
