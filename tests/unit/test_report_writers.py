"""The writers of one result model: JSON Schema, old formats, HTML, JUnit, the verdict, secrets."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from harness.bench.result import BenchmarkResult
from harness.bench.runner import BenchSettings, analyse
from harness.errors import UsageError
from harness.matrix import summarize
from harness.redact import forget_secrets, redact, register_secret
from harness.reports.html import render_html
from harness.reports.junit import render_junit
from harness.reports.markdown import write_markdown
from harness.results.matrix import Matrix
from harness.results.model import (
    SCHEMA_PATH,
    CheckResult,
    DiffEntry,
    Level,
    RunResults,
    RunStatus,
    SideInfo,
    Status,
    load_results,
    write_results,
)
from harness.verdict import decide
from tests.unit.test_bench_gate import samples
from tests.unit.test_matrix import cell_checks

OLD, NEW = "2.9.2", "3.4.0"


def full_results(status: RunStatus = RunStatus.PASSED) -> RunResults:
    checks = cell_checks("from", OLD) + cell_checks("to", NEW)
    checks.append(CheckResult("artifacts", "test_artifacts.py::t[multipart-from]", "from", OLD,
                              Status.KNOWN_DEFECT, 2.0, case="test_artifacts.py::t[multipart]",
                              defect={"id": "proxy-multipart-upload-path", "summary": "s",
                                      "source": "https://github.com/mlflow/mlflow/issues/11225"},
                              client_version=OLD, server_version=OLD))
    server = analyse(samples({"get_run": 1.0, "download_1mb": 8.0, "set_tag": 1.2}, rounds=8),
                     BenchSettings())
    server["rounds"] = 8
    return RunResults(
        run_id="abc", started_at="2026-11-23T08:00:00+00:00", harness_version="0.1.0",
        sides=[SideInfo("from", OLD, OLD), SideInfo("to", NEW, NEW)], status=status,
        checks=checks,
        diff=[DiffEntry("test_x.py::t", "api.evaluate", "accepted", "removed", "deltaone",
                        "expected", "evaluate-baseline-model-removed", "summary", "https://x")],
        benchmark=BenchmarkResult({"settings": {"threshold": 0.2}, "server_side": server,
                                   "gate": {"passed": False}, "seconds": 60.0}),
        matrix=summarize(checks))


def test_results_validate_against_the_published_schema(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    results = full_results()
    results.verdict = decide(results)
    write_results(results, tmp_path / "results.json")
    document = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(document, schema)
    document["status"] = "great"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_format_1_is_read_and_other_formats_refused_with_a_clear_message(tmp_path: Path) -> None:
    results = full_results()
    write_results(results, tmp_path / "v2.json")
    document = json.loads((tmp_path / "v2.json").read_text())
    for field in ("matrix", "merged_from", "verdict"):
        document.pop(field)
    for check in document["checks"]:
        for field in ("client_version", "server_version", "in_matrix"):
            check.pop(field)
    (tmp_path / "v1.json").write_text(json.dumps({**document, "format_version": 1}))
    old = load_results(tmp_path / "v1.json")
    assert old.checks[0].in_matrix is False and old.matrix == Matrix()
    write_markdown(old, tmp_path / "old.md")  # renders
    for version in (0, 3, None):
        (tmp_path / "bad.json").write_text(json.dumps({**document, "format_version": version}))
        with pytest.raises(UsageError, match=f"results format {version}; this harness reads "
                                             "formats 1, 2: re-run it"):
            load_results(tmp_path / "bad.json")


def test_verdict_levels_and_reasons() -> None:
    failing = full_results(RunStatus.FAILED)
    verdict = decide(failing)
    assert verdict.level is Level.NOT_SAFE
    assert any("more than 20% slower: download_1mb (server) 8.0" in r for r in verdict.reasons)
    assert any("newer clients fail on older servers" in r and "3.4.0 client → 2.9.2 server"
               in r for r in verdict.reasons)
    calm = full_results()
    assert calm.benchmark is not None
    calm.benchmark.data["server_side"] = {**analyse(samples({"get_run": 1.0}), BenchSettings()),
                                     "rounds": 12}
    assert decide(calm).level is Level.CAVEATS  # the advisory cell and the documented change
    calm.checks = [c for c in calm.checks if c.status is Status.PASSED]
    calm.diff, calm.matrix = [], summarize(calm.checks)
    assert decide(calm).level is Level.SAFE and decide(calm).reasons == []
    calm.status, calm.error = RunStatus.ERROR, "PostgreSQL did not start\nlog line"
    assert decide(calm).reasons == ["The run did not complete: PostgreSQL did not start"]


def test_html_is_self_contained_and_has_the_verdict_tables_and_charts() -> None:
    page = render_html(full_results(RunStatus.FAILED))
    assert '<section id="verdict" class="verdict unsafe"><h2>Not safe to upgrade</h2>' in page
    for ident in ("matrix", "diff", "performance", "environment", "checks"):
        assert f'<table id="{ident}">' in page, ident
    ratios = page[page.index('<svg id="performance-ratios"'):]
    ratios = ratios[:ratios.index("</svg>")]
    assert ratios.count("<circle") == 3  # one estimate per operation
    assert 'stroke="#c62828" stroke-dasharray="4,3"' in ratios  # the threshold line
    latency = page[page.index('<svg id="latency-distributions"'):]
    assert latency[:latency.index("</svg>")].count("<rect") == 6 + 2  # per operation; legend
    # Nothing is fetched: no scripts, no external stylesheets, images or fonts.
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_junit_fails_what_fails_the_run_and_skips_what_is_only_reported() -> None:
    root = ET.fromstring(render_junit(full_results(RunStatus.FAILED)))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    advisory = next(c for n, c in cases.items() if "lookup" in str(n) and "to_on_from" in str(n))
    skipped = advisory.find("skipped")
    assert skipped is not None and "advisory" in str(skipped.get("message"))
    defect = next(c for n, c in cases.items() if "multipart" in str(n))
    assert defect.find("skipped") is not None
    regression = cases["download_1mb"].find("failure")
    assert regression is not None and "regression" in str(regression.get("message"))
    assert cases["get_run"].find("failure") is None
    assert root.get("failures") == "1" and root.get("tests") == str(len(cases))


def test_planted_secrets_never_reach_a_report(tmp_path: Path) -> None:
    token, password, key = "tok-5f2e9c1a7b", "pw-Zx81kQ0vLp", "AKIAFAKEKEY12345/secret"
    register_secret(token)
    try:
        results = full_results(RunStatus.FAILED)
        check = results.checks[0]
        check.message = f"failed against postgresql://harness:{password}@127.0.0.1:5432/db"
        check.details = f"Authorization: Bearer {token}\naws_secret_access_key={key}"
        check.logs = {"server": f"--backend-store-uri postgresql://u:{password}@h/db"}
        results.error = f"token {token}"
        from harness.reports.writers import write_reports

        write_reports(results, tmp_path)
        for name in ("results.json", "report.md", "report.html", "junit.xml"):
            text = (tmp_path / name).read_text()
            for secret in (token, password, key):
                assert secret not in text, (name, secret)
        assert "postgresql://harness:***@127.0.0.1" in (tmp_path / "results.json").read_text()
    finally:
        forget_secrets()
    assert redact(f"x {token}") == f"x {token}"  # forgotten: only patterns remain


def test_a_defect_of_the_old_version_in_a_skew_cell_is_not_a_caveat_of_the_new() -> None:
    results = full_results()
    defect = {"id": "d1", "summary": "s", "source": "https://x"}
    results.checks.append(CheckResult("artifacts", "t[from_on_to]", "from_on_to", NEW,
                                      Status.KNOWN_DEFECT, 1.0, case="t", defect=defect,
                                      client_version=OLD, server_version=NEW))
    assert not any("known defect" in r for r in decide(results).reasons)
    results.checks.append(CheckResult("artifacts", "t[to]", "to", NEW, Status.KNOWN_DEFECT, 1.0,
                                      case="t", defect=defect, client_version=NEW,
                                      server_version=NEW))
    assert "known defect(s) of 3.4.0 reproduced: d1" in decide(results).reasons
