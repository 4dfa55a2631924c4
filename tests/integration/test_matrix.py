"""The client × server matrix on real servers: a 3.4.0 client cannot log a model to a 2.9.2
server, a 2.9.2 client works against 3.4.0; and per-client runs merged by `report` (what the
tox client environments do) give the same matrix as one run with every client.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness.reports.matrix import matrix_section
from harness.results.model import load_results
from tests.integration.conftest import harness_processes, run_cli

pytestmark = pytest.mark.integration
OLD, NEW = "2.9.2", "3.4.0"
SCENARIOS = "test_lookup_by_model_id or test_tracking_roundtrip"


def _run(out: Path, *extra: str) -> dict[str, Any]:
    run = run_cli("run", "--from", OLD, "--to", NEW, "--quiet", "--matrix-only", "-k", SCENARIOS,
                  "--out", str(out), *extra)
    # Only the advisory cell (new client, old server) fails: the run itself passes.
    assert run.code == 0, run.stderr + run.stdout[-2000:]
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    assert harness_processes(results["run_id"]) == set()
    return results


def test_matrix_shows_the_real_state_and_merges_like_one_run(tmp_path: Path) -> None:
    whole = _run(tmp_path / "all")
    matrix = whole["matrix"]
    assert matrix["clients"] == [OLD, NEW] and matrix["servers"] == [OLD, NEW]
    cells = {(c["client"], c["server"]): c for c in matrix["cells"]}
    assert {pair: c["status"] for pair, c in cells.items()} == {
        (OLD, OLD): "passed", (OLD, NEW): "passed", (NEW, OLD): "failed", (NEW, NEW): "passed"}

    # The failing cell names the failing call and the route the old server does not have.
    broken = cells[(NEW, OLD)]
    assert broken["advisory"] is True
    assert broken["scenarios"] == {"model_lookup": "failed", "tracking": "passed"}
    [failure] = broken["failures"]
    assert failure["test"].endswith("test_lookup_by_model_id")
    assert failure["call"].startswith("lookup:by_model_id")
    assert "logged-models" in failure["error"], failure
    report = (tmp_path / "all" / "report.md").read_text()
    assert "**3.4.0 client → 2.9.2 server** failed — *advisory*" in report
    # The old client on the new server ran the same scenarios, for real, and passed.
    assert cells[(OLD, NEW)]["counts"] == {"passed": 2}

    # One run per client, at once (as `tox -p` runs the client environments), merged: the same
    # matrix.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for shard in [pool.submit(_run, tmp_path / "shards" / client, "--clients", client)
                      for client in (OLD, NEW)]:
            shard.result()
    merged = run_cli("report", str(tmp_path / "shards"), "--out", str(tmp_path / "merged"))
    assert merged.code == 0, merged.stderr
    assert matrix_section(load_results(tmp_path / "merged" / "results.json")) == \
        matrix_section(load_results(tmp_path / "all" / "results.json"))
