"""Every report from one result model, for runs and merges alike."""

from __future__ import annotations

from pathlib import Path

from harness.reports.html import write_html
from harness.reports.junit import write_junit
from harness.reports.markdown import write_markdown
from harness.reports.screenshot import screenshot
from harness.results.model import RunResults, write_results
from harness.verdict import conclude


def write_reports(results: RunResults, out: Path) -> str | None:
    """results.json, report.md, report.html, junit.xml and report.png; returns why there is
    no screenshot, if not. The matrix, the verdict and the status are concluded here first."""
    conclude(results)
    write_results(results, out / "results.json")
    write_markdown(results, out / "report.md")
    write_html(results, out / "report.html")
    write_junit(results, out / "junit.xml")
    return screenshot(out / "report.html", out / "report.png", results.run_id)
