"""Recorded runs re-rendered: report.md, junit.xml and results.json of three real runs
(2.9.2 → 3.4.0 in full, a run with failing checks, a team-project run), pinned as the
writers rendered them when the runs were recorded.

The inputs are the runs' own results.json (tests/fixtures/recorded/). The verdict and the
matrix are derived again from the checks, as `report` does, so a change to the result model,
the verdict or a writer that alters what a user reads shows up here as a diff to review.
After an intended change: `UPDATE_SNAPSHOTS=1 python3 -m pytest tests/unit/test_recorded_runs.py`.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.reports.writers import write_reports
from harness.results.model import load_results

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots" / "recorded"
RUNS = ["upgrade-2.9.2-3.4.0", "failing-deltaone", "team-project"]


def _load(tmp_path: Path, name: str) -> Path:
    source = tmp_path / f"{name}.json"
    source.write_bytes(gzip.decompress((FIXTURES / f"{name}.results.json.gz").read_bytes()))
    return source


def _first_difference(old: Any, new: Any, path: str = "") -> str:
    if type(old) is not type(new):
        return f"{path or '/'}: {type(old).__name__} → {type(new).__name__}"
    if isinstance(old, dict):
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                return f"{path}/{key}: only in the {'new' if key in new else 'snapshot'}"
            found = _first_difference(old[key], new[key], f"{path}/{key}")
            if found:
                return found
        return ""
    if isinstance(old, list):
        if len(old) != len(new):
            return f"{path}: {len(old)} items → {len(new)}"
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            found = _first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return ""
    return "" if old == new else f"{path}: {old!r} → {new!r}"


@pytest.mark.parametrize("name", RUNS)
def test_recorded_run_renders_as_pinned(tmp_path: Path, name: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_UPGRADE_HARNESS_CHROMIUM", str(tmp_path / "no-chromium"))
    out = tmp_path / "out"
    write_reports(load_results(_load(tmp_path, name)), out)
    pinned = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        pinned.mkdir(parents=True, exist_ok=True)
        for file in ("report.md", "junit.xml"):
            (pinned / file).write_text((out / file).read_text())
        (pinned / "results.json.gz").write_bytes(
            gzip.compress((out / "results.json").read_bytes(), mtime=0))
    for file in ("report.md", "junit.xml"):
        assert (out / file).read_text() == (pinned / file).read_text(), \
            f"{name}/{file} changed: review, then UPDATE_SNAPSHOTS=1"
    written = json.loads((out / "results.json").read_text())
    snapshot = json.loads(gzip.decompress((pinned / "results.json.gz").read_bytes()))
    assert written == snapshot, f"{name}/results.json: {_first_difference(snapshot, written)}"
