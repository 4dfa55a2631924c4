"""Two runs, one answer, whether the scenarios run in concurrent lanes (the default) or one
after the other (--sequential): the same status for every check, the same checks in the same
order, the same classified differences, each lane's time in `phases`.

The lanes run is the session's full run (`full_run`: every scenario, the matrix); the
sequential run is the CI-sized selection of the scenarios of every kind that talk to both
servers and the matrix, and serving (it has a cross-side test: the cross lane). Both are
compared on the selection's modules, through the same fingerprint that
benchmarks/repeatability.py compares its runs with (its figures, full runs with the benchmark,
are in the notes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.repeatability import differences, fingerprint
from harness.results.model import RunResults, load_results
from tests.integration.conftest import NEW, OLD, CliRun, harness_processes, run_cli, run_folders

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("full-run")]
MODULES = ("test_tracking", "test_registration", "test_model_lookup", "test_errors",
           "test_serving")
LANES = {"scenarios: lane from", "scenarios: lane from/2", "scenarios: lane to",
         "scenarios: lane to/2", "scenarios: lane cross"}


def _module(test: str) -> str:
    return test.split("::")[0].removesuffix(".py")


def _model(results: RunResults) -> tuple[list[tuple[str, str, str]], list[tuple[str, ...]]]:
    """The selection's checks in order and its classified differences."""
    checks = [(c.test, c.side, c.status.value) for c in results.checks
              if _module(c.test) in MODULES]
    diff: list[tuple[str, ...]] = [
        (d.test, d.path, repr(d.old), repr(d.new), d.classification, d.catalog_id)
        for d in results.diff if _module(d.test) in MODULES]
    return checks, diff


def _selected(raw: dict[str, Any]) -> dict[str, Any]:
    """A results file narrowed to the selection's modules."""
    return {**raw, "checks": [c for c in raw["checks"] if _module(c["test"]) in MODULES],
            "diff": [d for d in raw["diff"] if _module(d["test"]) in MODULES]}


def test_lanes_and_a_sequential_run_agree(full_run: CliRun, tmp_path: Path) -> None:
    sequential_run = run_cli("run", "--from", OLD, "--to", NEW, "--provider", "local",
                             "--no-bench", "--sequential", "-k", " or ".join(MODULES),
                             "--quiet", "--out", str(tmp_path / "sequential"),
                             default_setup=True)
    lanes = load_results(full_run.out / "results.json")
    sequential = load_results(sequential_run.out / "results.json")
    assert {_module(c.test) for c in sequential.checks} == set(MODULES)
    assert len(_model(sequential)[0]) >= 20
    assert _model(lanes) == _model(sequential)
    prints = [fingerprint(_selected(json.loads((run.out / "results.json").read_text())),
                          run.code) for run in (full_run, sequential_run)]
    assert differences(*prints) == []
    assert prints[0]["verdict"] == prints[1]["verdict"] and full_run.code == sequential_run.code
    assert {c.side for c in lanes.checks} >= {"from", "to", "from_on_to", "to_on_from", "cross"}
    assert any(row[-1] for row in _model(lanes)[1]), "documented differences were compared"
    assert LANES <= set(lanes.phases)
    assert not LANES & set(sequential.phases)
    for run in (lanes, sequential):
        assert harness_processes(run.run_id) == set() and run_folders(run.run_id) == set()
