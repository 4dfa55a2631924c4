"""Consecutive runs give the same verdict and the same status for every check, whether the
scenarios run in concurrent lanes (the default) or one after the other (--sequential); and the
lanes give the sequential results model: the same checks in the same order, the same classified
differences, each lane's time in `phases`.

The CI-sized selection: the scenarios of every kind that talk to both servers and the matrix, and
serving (it has a cross-side test: the cross lane), without the 64 MB transfers and the benchmark
(benchmarks/repeatability.py runs the full thing; its figures are in the notes). Same code path:
this test calls that script.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.repeatability import repeat
from harness.results.model import RunResults, load_results
from tests.integration.conftest import harness_processes, run_folders

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SELECTION = "test_tracking or test_registration or test_model_lookup or test_errors or " \
            "test_serving"
LANES = {"scenarios: lane from", "scenarios: lane to", "scenarios: lane cross"}


def _model(results: RunResults) -> tuple[list[tuple[str, str, str]], list[tuple[str, ...]], str]:
    checks = [(c.test, c.side, c.status.value) for c in results.checks]
    diff = [(d.test, d.path, repr(d.old), repr(d.new), d.classification, d.catalog_id)
            for d in results.diff]
    return checks, diff, results.verdict["level"]


def test_consecutive_runs_in_lanes_and_one_by_one_agree(tmp_path: Path) -> None:
    summary = repeat(4, ["--from", "2.9.2", "--to", "3.4.0", "--provider", "local",
                         "--no-bench", "-k", SELECTION], tmp_path, [[], ["--sequential"]])
    assert summary["checks_per_run"][0] >= 20
    assert len(set(summary["checks_per_run"])) == 1
    assert summary["changes"] == {}, summary["changes"]
    assert summary["repeatable"] and len(set(summary["verdicts"])) == 1
    runs = [load_results(tmp_path / f"run-{n}" / "results.json") for n in range(1, 5)]
    lanes, sequential = runs[0::2], runs[1::2]
    assert all(_model(run) == _model(sequential[0]) for run in lanes + sequential)
    assert {c.side for c in lanes[0].checks} >= {"from", "to", "from_on_to", "to_on_from",
                                                  "cross"}
    assert any(d.catalog_id for d in lanes[0].diff), "documented differences were compared"
    assert all(LANES <= set(run.phases) for run in lanes)
    assert not any(LANES & set(run.phases) for run in sequential)
    for run in runs:
        assert harness_processes(run.run_id) == set() and run_folders(run.run_id) == set()
