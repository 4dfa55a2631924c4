"""Snapshot tests: report.md and junit.xml of a fixed results file, pinned byte for byte.

A change to a writer shows up here as a diff to review. After an intended change:
`UPDATE_SNAPSHOTS=1 python3 -m pytest tests/unit/test_report_snapshots.py`, then review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.results.model import RunResults, load_results
from reports.junit import render_junit
from reports.markdown import render_markdown

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results-snapshot.json"
SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"


@pytest.mark.parametrize(("name", "render"), [("report.md", render_markdown),
                                              ("junit.xml", render_junit)])
def test_output_matches_its_snapshot(name: str, render: Callable[[RunResults], str]) -> None:
    rendered = render(load_results(FIXTURE))
    snapshot = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(rendered)
    assert rendered == snapshot.read_text(), f"{name} changed: review, then UPDATE_SNAPSHOTS=1"
