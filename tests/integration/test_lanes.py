"""Concurrent lanes against real servers give the results a sequential run gives: the same
checks in the same order with the same statuses, the same classified differences, the same
verdict; and each lane's time is in `phases`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.results.model import RunResults, load_results
from tests.integration.conftest import harness_processes, run_cli, run_folders

pytestmark = pytest.mark.integration
# A share for every lane: tracking and registration in each client's lane (with documented
# differences between 2.9.2 and 3.4.0), serving (it has a cross-side test) in the cross lane.
SUBSET = "test_tracking or test_registration or test_serving"


def _model(results: RunResults) -> tuple[list[tuple[str, str, str]], list[tuple[str, ...]], str]:
    checks = [(c.test, c.side, c.status.value) for c in results.checks]
    diff = [(d.test, d.path, repr(d.old), repr(d.new), d.classification, d.catalog_id)
            for d in results.diff]
    return checks, diff, results.verdict["level"]


def test_lanes_give_the_sequential_results_model(tmp_path: Path) -> None:
    common = ("run", "--from", "2.9.2", "--to", "3.4.0", "--no-bench", "--quiet", "-k", SUBSET)
    lanes = run_cli(*common, "--out", str(tmp_path / "lanes"))
    sequential = run_cli(*common, "--sequential", "--out", str(tmp_path / "sequential"))
    assert lanes.code == sequential.code == 0, lanes.stderr[-2000:] + sequential.stderr[-2000:]
    concurrent, one_by_one = (load_results(run.out / "results.json")
                              for run in (lanes, sequential))
    assert _model(concurrent) == _model(one_by_one)
    assert {c.side for c in concurrent.checks} >= {"from", "to", "from_on_to", "to_on_from",
                                                    "cross"}
    assert any(d.catalog_id for d in concurrent.diff), "documented differences were compared"
    lane_phases = {name for name in concurrent.phases if name.startswith("scenarios: lane ")}
    assert lane_phases == {"scenarios: lane from", "scenarios: lane to", "scenarios: lane cross"}
    assert not any(name.startswith("scenarios: lane ") for name in one_by_one.phases)
    for results in (concurrent, one_by_one):
        assert harness_processes(results.run_id) == set()
        assert run_folders(results.run_id) == set()
