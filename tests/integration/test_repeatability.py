"""Five consecutive runs give the same verdict and the same status for every check.

The CI-sized selection: the scenarios of every kind that talk to both servers and the matrix,
without the 64 MB transfers and the benchmark (benchmarks/repeatability.py runs the full thing;
its figures are in the notes). Same code path: this test calls that script.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.repeatability import repeat

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SELECTION = "test_tracking or test_registration or test_model_lookup or test_errors"


def test_five_consecutive_runs_agree(tmp_path: Path) -> None:
    summary = repeat(5, ["--from", "2.9.2", "--to", "3.4.0", "--provider", "local",
                         "--no-bench", "-k", SELECTION], tmp_path)
    assert summary["checks_per_run"][0] >= 20
    assert len(set(summary["checks_per_run"])) == 1
    assert summary["changes"] == {}, summary["changes"]
    assert summary["repeatable"] and len(set(summary["verdicts"])) == 1
