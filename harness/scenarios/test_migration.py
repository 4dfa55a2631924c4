"""Schema migration, old → new: nothing lost, nothing changed, and no way back but a snapshot.

One drill per run (module scope) on its own database; each test checks one promise of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.scenarios.background import BackgroundDrill

Observe = Callable[[dict[str, Any]], None]


LANE_SECONDS = 1  # its typical seconds on one side: how a client's lanes share the modules


@pytest.fixture(scope="module")
def drill(background_migration: BackgroundDrill | None) -> dict[str, Any]:
    """The drill's report; it started in the background with the first scenario."""
    assert background_migration is not None
    return background_migration.wait()


def verify_rows(report: dict[str, Any]) -> None:
    """Every row that existed before the upgrade is there after, unchanged in old columns;
    the seeded edge values (at the old version's limits, odd text) are among those rows."""
    assert report["rows_checked"] > 0
    assert report["rows"] == [], f"rows lost or changed by the upgrade: {report['rows']}"
    uncovered = [table for table, found in report.get("edge_rows", {}).items()
                 if not found["rows"]]
    assert not uncovered, f"no seeded edge rows in {uncovered}: the fingerprints miss them"


def verify_schema(report: dict[str, Any]) -> None:
    upgrade = report["upgrade"]
    assert upgrade.get("new_head") in (None, upgrade.get("to_revision")), (
        f"the upgrade stopped at {upgrade['to_revision']}, not at the new version's head "
        f"{upgrade.get('new_head')}")
    diff = report["schema_diff"]
    assert diff["tables_removed"] == [], diff["tables_removed"]
    assert diff["columns_removed"] == [], diff["columns_removed"]
    assert diff["indexes_removed"] == [], f"indexes lost: {diff['indexes_removed']}"


def verify_entities(report: dict[str, Any]) -> None:
    assert report["entity_changes"] == [], report["entity_changes"][:10]


def verify_rollback(report: dict[str, Any]) -> None:
    rollback = report["rollback"]
    if report["upgrade"]["revisions"]:  # a same-version run migrates nothing
        assert report["guard_refused_unsnapshotted"], "a new version could touch an unsaved DB"
        assert rollback["old_server_on_upgraded_db"] == "refused", "expected no in-place rollback"
    assert rollback["restored_identical"], rollback["restored_changes"]


def test_rows_preserved(drill: dict[str, Any], observe: Observe) -> None:
    observe({"rows_checked": drill["rows_checked"], "rows": drill["rows"],
             "row_counts": drill["row_counts"], "seed": drill["seed"]["counts"],
             "edge_rows": drill.get("edge_rows", {}),
             "seed_seconds": drill["seed"]["seconds"],
             "edge_seed_seconds": drill["seed"].get("edges_seconds")})
    verify_rows(drill)


def test_schema_upgraded(drill: dict[str, Any], observe: Observe) -> None:
    observe({"upgrade": drill["upgrade"], "schema_diff": drill["schema_diff"]})
    verify_schema(drill)


def test_entities_served_after_upgrade(drill: dict[str, Any], observe: Observe) -> None:
    observe({"entity_changes": drill["entity_changes"]})
    verify_entities(drill)


def test_old_models_predict_identically(drill: dict[str, Any], observe: Observe) -> None:
    observe({"predictions_equal": drill["predictions_equal"]})
    if not drill["predictions_equal"]:
        pytest.skip("a restored dump has no model trained by this run to compare against")
    assert all(drill["predictions_equal"].values()), drill["predictions_equal"]


def test_new_writes_on_migrated_data(drill: dict[str, Any], observe: Observe) -> None:
    observe(drill["writes_after_upgrade"])
    verify_writes(drill["writes_after_upgrade"])


def verify_writes(writes: dict[str, Any]) -> None:
    """New runs and versions on migrated data; values at the new version's limits on the
    migrated edge entities read back exactly (the upgrade widened what it documents wider)."""
    assert writes["run_status"] == "FINISHED"
    if "new_version" in writes:
        assert writes["new_version"] == "5"
    lost = {field: outcome for field, outcome in writes.get("edge_writes", {}).items()
            if not outcome.startswith("stored intact")}
    assert not lost, f"lost data written after the upgrade: {lost}"


def test_rollback_drill(drill: dict[str, Any], observe: Observe) -> None:
    observe({"rollback": drill["rollback"],
             "guard_refused_unsnapshotted": drill["guard_refused_unsnapshotted"]})
    verify_rollback(drill)
