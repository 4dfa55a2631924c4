"""The DeltaOne scenario fails when a detector is wrong: on one version only, or in its webhook.

Runs the real scenario (both MLflow versions, their servers, the webhook receivers) through the
CLI with a team detector plugged in by `--deltaone-detector`, here a deliberately wrong one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import harness_processes, run_cli

pytestmark = pytest.mark.integration
WRONG = Path(__file__).resolve().parents[1] / "fixtures" / "deltaone_wrong_detector.py"


def test_wrong_detector_fails_the_scenario(tmp_path: Path) -> None:
    run = run_cli("run", "--from", "2.9.2", "--to", "3.4.0", "--quiet", "--no-bench", "--out",
                  str(tmp_path / "out"), "-k", "test_deltaone and (threshold or lower_is_better)",
                  "--deltaone-detector", f"{WRONG}:detect")
    assert run.code == 1, run.stderr
    results = json.loads((run.out / "results.json").read_text())
    checks = {(c["case"].split("::")[-1], c["side"]): c for c in results["checks"]}

    # The verdict differs on one version only: the old side passes, the new side fails on it.
    at_threshold = "test_deltaone[exactly_at_threshold]"
    assert checks[(at_threshold, "from")]["status"] == "passed"
    assert checks[(at_threshold, "to")]["status"] == "failed"
    assert "verdict not_achieved" in checks[(at_threshold, "to")]["message"]

    # The payload is wrong on both: each side fails on the webhook check, naming the payload.
    for side in ("from", "to"):
        check = checks[("test_deltaone[lower_is_better]", side)]
        assert check["status"] == "failed"
        assert "wrong webhook payload" in check["message"]
        assert "'delta': -0.03" in check["message"]

    # Cases the planted bugs do not touch still pass on both.
    for case in ("below_threshold", "lower_is_better_worse"):
        assert {checks[(f"test_deltaone[{case}]", side)]["status"] for side in ("from", "to")} \
            == {"passed"}
    assert harness_processes(results["run_id"]) == set()


def test_detector_option_is_checked_before_anything_starts(tmp_path: Path) -> None:
    missing = run_cli("run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(tmp_path / "a"),
                      "--deltaone-detector", str(tmp_path / "nope.py"))
    assert missing.code == 2 and missing.stderr.count("\n") == 1
    assert "no such file" in missing.stderr
    undefined = run_cli("run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(tmp_path / "b"),
                        "--deltaone-detector", f"{WRONG}:evaluate")
    assert undefined.code == 2 and "defines no function 'evaluate'" in undefined.stderr
