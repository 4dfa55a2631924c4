"""Snapshot tests: report.md and junit.xml of a fixed results file, pinned byte for byte.

A change to a writer shows up here as a diff to review. After an intended change:
`UPDATE_SNAPSHOTS=1 python3 -m pytest tests/unit/test_report_snapshots.py`, then review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.reports.bounds import LIMIT, TRUNCATED
from harness.reports.junit import render_junit
from harness.reports.markdown import render_markdown
from harness.results.model import RunResults, load_results
from tests.fixtures.large_run import large_failing_run

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


def test_report_md_of_a_large_failing_run_is_bounded_and_pinned() -> None:
    """Hundreds of failing checks with long messages and logs, thousands of diff rows, hundreds
    of benchmark operations: report.md still fits a pull-request comment, by its sections'
    bounds (not by the last-resort cut), and links report.html for the rest."""
    rendered = render_markdown(large_failing_run())
    assert len(rendered) < LIMIT
    assert TRUNCATED not in rendered
    assert "[report.html](report.html)" in rendered
    snapshot = SNAPSHOTS / "report-large.md"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(rendered)
    assert rendered == snapshot.read_text(), "report-large.md changed: review, then " \
                                             "UPDATE_SNAPSHOTS=1"
