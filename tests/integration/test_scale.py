"""A store seeded in bulk, and the migration drill on it with a planted slow step.

One CLI run, 2.9.2 → 3.4.0, on a small store (`--scale` counts: seconds to seed) with
`--inject-slow-migration`: revision 400f98739977 takes the lock an index build takes on
`metrics` and holds it for SLOW_S. The report must name that revision as the slowest step and
show the writer's metric writes held that long; the sides' databases are copies of the store
(the new side's upgraded before its server started); the caveat tells the team to plan the
downtime. The benchmark's operations at scale and the servers' memory are measured by
`--scale medium` runs (docs/measurements.md), too long for CI.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import OLD, harness_processes, run_cli, run_folders

pytestmark = pytest.mark.integration
SLOW_REVISION, SLOW_S = "400f98739977", 12
STORE = "runs=2000,experiments=20,metrics=40000,history=5000,wide=300,models=20,versions=100"


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("scale") / "report"
    run = run_cli("run", "--from", OLD, "--to", "3.4.0", "--out", str(out), "--provider",
                  "local", "--no-bench", "--no-matrix", "-k", "test_migration", "--scale", STORE,
                  "--inject-slow-migration", f"{SLOW_REVISION}={SLOW_S}", timeout=900)
    results = json.loads((out / "results.json").read_text())
    assert not harness_processes(results["run_id"]) and not run_folders(results["run_id"])
    return run.code, results, (out / "report.md").read_text()


def test_the_store_is_seeded_in_bulk_and_read_back(
        scaled: tuple[int, dict[str, Any], str]) -> None:
    code, results, _ = scaled
    assert code == 0, results.get("error")
    store = results["scale"]["store"]
    assert store["size"]["runs"] == 2000 and store["old_version"] == OLD
    rows = store["seed"]["rows"]
    assert rows["runs"] == 2000 and rows["params"] == 2000 * 20 + 300
    assert rows["metrics"] >= 5000 + 2000 * 5 and rows["registered_models"] == 20
    assert store["seed"]["rows_per_s"] > 0 and store["bytes"] > 0
    upgraded = store["new_side_upgrade"]
    assert upgraded["version"] == "3.4.0" and len(upgraded["revisions"]) == 15
    checks = {c["test"].split("::")[-1]: c for c in results["checks"]}
    assert {c["status"] for c in checks.values()} == {"passed"}, checks
    # the drill ran on a copy of the store, and served its samples alike after the upgrade
    assert checks["test_rows_preserved"]["observations"]["row_counts"]["runs"] > 2000
    assert checks["test_entities_served_after_upgrade"]["observations"]["entity_changes"] == []


def test_the_report_names_the_slow_revision_and_the_writers_wait(
        scaled: tuple[int, dict[str, Any], str]) -> None:
    _, results, report = scaled
    migration = results["scale"]["migration"]
    assert migration["planted_slow_step"] == [SLOW_REVISION, SLOW_S]
    slowest = max(migration["revisions"], key=lambda r: r["seconds"])
    assert slowest["revision"] == SLOW_REVISION and slowest["seconds"] >= SLOW_S
    assert "metrics" in slowest["held"] and slowest["longest_wait_s"] >= SLOW_S - 1
    writer = migration["writer"]
    assert writer["by_kind"]["metrics"]["revision"] == SLOW_REVISION
    assert writer["by_kind"]["metrics"]["longest_wait_s"] >= SLOW_S - 1
    assert writer["longest_wait_s"] >= SLOW_S - 1
    section = report.split("## At your scale", 1)[1].split("\n## ", 1)[0]
    first_row = next(line for line in section.splitlines() if line.startswith("| `"))
    assert first_row.startswith(f"| `{SLOW_REVISION}` |") and "metrics" in first_row
    assert f"slowest revision, `{SLOW_REVISION}`" in section
    assert "writes were held up to" in section and "--inject-slow-migration" in section
    held = [r for r in results["verdict"]["reasons"] if "held writes for" in r]
    assert held and "plan that downtime" in held[0], results["verdict"]["reasons"]
