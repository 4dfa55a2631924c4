import json
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.reports.html import render_html
from harness.reports.markdown import render_markdown
from harness.results.model import (
    FORMAT_VERSION,
    CheckResult,
    DiffEntry,
    RunResults,
    RunStatus,
    SideInfo,
    Status,
    load_results,
    write_results,
)
from harness.results.normalize import diff, flatten, normalize
from harness.scenarios_runner import cross_version_diff

RUN_A = "0123456789abcdef0123456789abcdef"
RUN_B = "fedcba9876543210fedcba9876543210"


def test_normalize_replaces_ids_times_and_ports_consistently() -> None:
    raw = {
        "run_id": RUN_A,
        "parent": {"run_id": RUN_A},
        "other_id": RUN_B,
        "uri": f"runs:/{RUN_B}/model",
        "server": "http://127.0.0.1:45123/api",
        "start_time": 1_700_000_000_123,
        "model_uri": "models:/m-0123456789abcdef0123456789abcdef",
        "value": 0.93,
    }
    out = normalize(raw)
    assert out["run_id"] == out["parent"]["run_id"] == "<id1>"
    assert out["other_id"] == "<id2>" and out["uri"] == "runs:/<id2>/model"
    assert out["server"] == "<server>/api"
    assert out["start_time"] == "<time>"
    assert out["model_uri"] == "models:/<id3>"
    assert out["value"] == 0.93


def test_diff_ignores_incidental_and_reports_real_changes() -> None:
    old = {"run_id": RUN_A, "metrics": {"acc": 0.9}, "tags": ["a"]}
    same = {"run_id": RUN_B, "metrics": {"acc": 0.9}, "tags": ["a"]}
    assert diff(old, same) == []
    changed = {"run_id": RUN_B, "metrics": {"acc": 0.8, "f1": 0.5}, "tags": []}
    assert diff(old, changed) == [
        ("metrics.acc", 0.9, 0.8),
        ("metrics.f1", "<absent>", 0.5),
        ("tags", "<absent>", []),
        ("tags[0]", "a", "<absent>"),
    ]
    assert flatten({"a": {"b": [1, {}]}}) == {"a.b[0]": 1, "a.b[1]": {}}


def _check(side: str, status: Status, obs: dict[str, object]) -> CheckResult:
    return CheckResult("tracking", f"test_tracking.py::t[{side}]", side, "x", status, 1.0,
                       case="test_tracking.py::t", observations=obs)


def test_cross_version_diff_pairs_sides() -> None:
    checks = [_check("from", Status.PASSED, {"a": 1}), _check("to", Status.PASSED, {"a": 2})]
    assert cross_version_diff(checks) == [
        DiffEntry("test_tracking.py::t", "a", 1, 2, scenario="tracking")
    ]
    assert cross_version_diff(checks[:1]) == []


def _results() -> RunResults:
    return RunResults(
        run_id="r1", started_at="2026-01-01T00:00:00+00:00", harness_version="0.1.0",
        sides=[SideInfo("from", "2.9.2", "2.9.2"), SideInfo("to", "3.4.0", "3.4.0")],
        status=RunStatus.FAILED,
        checks=[
            _check("from", Status.PASSED, {"a": 1}),
            CheckResult("tracking", "t[to]", "to", "3.4.0", Status.FAILED, 2.0,
                        message="assert 1 == 2", failing_call="tracking:roundtrip: boom",
                        logs={"server 3.4.0": "line one\nline two"}),
        ],
        diff=[DiffEntry("t", "a", 1, 2)],
    )


def test_documented_differences_are_classified_expected() -> None:
    old = _check("from", Status.PASSED, {"uri": "runs:/0123456789abcdef0123456789abcdef/model"})
    new = _check("to", Status.PASSED, {"uri": "models:/m-0123456789abcdef0123456789abcdef"})
    old.mlflow_version, new.mlflow_version = "2.9.2", "3.4.0"
    old.observations = {"model_uri": old.observations["uri"], "lost": 1}
    new.observations = {"model_uri": new.observations["uri"]}
    entries = {e.path: e for e in cross_version_diff([old, new])}
    assert entries["model_uri"].classification == "expected"
    assert entries["model_uri"].catalog_id == "logged-model-uri"
    assert entries["lost"].classification == "unexpected"


def test_results_round_trip(tmp_path: Path) -> None:
    results = _results()
    write_results(results, tmp_path / "results.json")
    loaded = load_results(tmp_path / "results.json")
    assert loaded == results
    assert loaded.exit_code == 1
    assert json.loads((tmp_path / "results.json").read_text())["format_version"] == FORMAT_VERSION


def test_unknown_format_is_refused_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"format_version": 99}))
    with pytest.raises(UsageError, match="format 99.*reads formats 1, 2"):
        load_results(path)
    path.write_text("{not json")
    with pytest.raises(UsageError, match="cannot read"):
        load_results(path)


def test_markdown_opens_with_the_verdict_and_names_the_failure() -> None:
    text = render_markdown(_results())
    lines = text.splitlines()
    assert lines[0] == "# MLflow upgrade check: 2.9.2 → 3.4.0"
    assert "Not safe to upgrade" in lines[2]
    assert "tracking:roundtrip: boom" in text
    assert "| `a` | `1` | `2` |" in text
    assert "line two" not in text, "logs are in report.html, not report.md"
    assert "line two" in render_html(_results())
