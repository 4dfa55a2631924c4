"""The scan in a run's results: schema, verdict, report.md's "Your code" first, junit, merge,
and --scan/--catalog validated at the edge."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from harness.cli import main
from harness.reports.html import render_html
from harness.reports.junit import render_junit
from harness.reports.markdown import render_markdown
from harness.results.merge import load_and_merge
from harness.results.model import Level, write_results
from harness.scan.report import ScanReport
from harness.verdict import decide
from tests.unit.test_report_writers import SCHEMA_PATH, full_results

SCAN = {
    "from": "2.9.2", "to": "3.4.0", "paths": ["team"], "files_scanned": 2, "uses": 9,
    "api_changes": {"removed": 163}, "timings": {},
    "findings": [
        {"file": "evaluator.py", "line": 21, "api": "mlflow.evaluate", "kind":
         "parameter-removed", "what": "parameter baseline_model removed in 3.4.0",
         "parameter": "baseline_model", "catalog": "evaluate-baseline-model-removed",
         "summary": "s", "source": "https://github.com/mlflow/mlflow/pull/15362", "also_at": []},
        {"file": "registry.py", "line": 19, "api": "mlflow.sklearn.log_model", "kind":
         "parameter-deprecated", "what": "parameter artifact_path deprecated (3.4.0)",
         "parameter": "artifact_path", "catalog": None, "summary": "", "source": "",
         "also_at": []},
    ],
}


def test_scan_validates_and_round_trips(tmp_path: Path) -> None:
    results = full_results()
    results.scan = ScanReport.from_dict(SCAN)
    results.verdict = decide(results)
    write_results(results, tmp_path / "r" / "results.json")
    jsonschema.validate(json.loads((tmp_path / "r" / "results.json").read_text()),
                        json.loads(SCHEMA_PATH.read_text()))
    merged = load_and_merge([str(tmp_path / "r")])
    assert merged.scan is not None and merged.scan.to_dict()["findings"] == SCAN["findings"]


def test_a_break_in_your_code_makes_the_verdict_not_safe() -> None:
    results = full_results()
    results.benchmark = None
    results.diff = []
    results.scan = ScanReport.from_dict(SCAN)
    verdict = decide(results)
    assert verdict.level is Level.NOT_SAFE
    assert any("1 place(s) in your code use APIs 3.4.0 removed or changed: evaluator.py:21 "
               "mlflow.evaluate" in r for r in verdict.reasons)
    assert any("deprecated APIs: registry.py:19" in r for r in verdict.reasons)


def test_two_parameters_of_one_call_are_two_places_in_the_verdict() -> None:
    results = full_results()
    results.benchmark, results.diff = None, []
    second = {**SCAN["findings"][0], "parameter": "validation_thresholds",
              "what": "parameter validation_thresholds removed in 3.4.0"}
    results.scan = ScanReport.from_dict({**SCAN, "findings": [SCAN["findings"][0], second]})
    (reason,) = [r for r in decide(results).reasons if "removed or changed" in r]
    assert reason.endswith("evaluator.py:21 mlflow.evaluate(baseline_model=…), "
                           "evaluator.py:21 mlflow.evaluate(validation_thresholds=…)")


def test_your_code_comes_first_in_every_writer() -> None:
    results = full_results()
    results.scan = ScanReport.from_dict(SCAN)
    results.verdict = decide(results)
    markdown = render_markdown(results)
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings[1] == "## Your code"  # right after the verdict
    assert "- line 21: `mlflow.evaluate` — parameter baseline_model removed in 3.4.0 — " \
           "[evaluate-baseline-model-removed](https://github.com/mlflow/mlflow/pull/15362)" \
        in markdown
    html = render_html(results)
    assert "<h2>Your code</h2>" in html and "evaluator.py:21" in html
    suite = next(s for s in ET.fromstring(render_junit(results)) if s.get("name") == "your code")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "1")


def test_without_a_scan_no_section() -> None:
    results = full_results()
    assert "## Your code" not in render_markdown(results)
    assert "Your code" not in render_html(results)


def test_scan_and_catalog_paths_are_checked_before_anything_starts(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for option in ("--scan", "--catalog"):
        code = main(["run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(tmp_path / "o"),
                     option, str(tmp_path / "missing")])
        err = capsys.readouterr().err
        assert code == 2 and f"{option} " in err and "no such file or folder" in err
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_team_scenarios_are_listed_in_your_code(tmp_path: Path) -> None:
    results = full_results()
    results.team_scenarios = ["tracking"]  # a scenario of full_results' checks, as the team's
    results.verdict = decide(results)
    markdown = render_markdown(results)
    section = markdown[markdown.index("## Your code"):]
    assert "**Your scenarios**" in section and "- scenario `tracking`: " in section
    write_results(results, tmp_path / "r" / "results.json")
    jsonschema.validate(json.loads((tmp_path / "r" / "results.json").read_text()),
                        json.loads(SCHEMA_PATH.read_text()))
    assert load_and_merge([str(tmp_path / "r")]).team_scenarios == ["tracking"]
