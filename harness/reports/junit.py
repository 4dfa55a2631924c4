"""junit.xml: a test case per scenario check (its client × server cell) and per gated operation.

CI systems read JUnit to show what failed. What fails the run is a `<failure>` (or `<error>`);
what is reported without failing it — a known defect, an advisory matrix cell (a client newer
than its server), an operation the benchmark could not decide — is `<skipped>` with the reason,
so a JUnit gate and the harness's exit code agree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.bench.records import OperationResult
from harness.matrix import is_advisory
from harness.redact import redact
from harness.results.model import CheckResult, RunResults, Status


def _check_case(suite: ET.Element, check: CheckResult) -> None:
    cell = (f"{check.client_version} client → {check.server_version} server"
            if check.client_version else check.mlflow_version)
    case = ET.SubElement(suite, "testcase", {
        "classname": f"scenarios.{check.scenario}",
        "name": f"{check.case or check.test} [{check.side}: {cell}]",
        "time": f"{check.duration_s:.3f}",
    })
    text = "\n".join(part for part in (check.failing_call, check.details) if part)
    if check.status is Status.KNOWN_DEFECT:
        ET.SubElement(case, "skipped", {"message": f"known defect {check.defect.get('id', '')}: "
                                                   f"{check.message}"})
    elif check.status is Status.SKIPPED:
        ET.SubElement(case, "skipped", {"message": check.message})
    elif check.status in (Status.FAILED, Status.ERROR) and is_advisory(check):
        ET.SubElement(case, "skipped", {
            "message": f"advisory (a client newer than its server): {check.message}"})
    elif check.status is Status.FAILED:
        ET.SubElement(case, "failure", {"message": check.message}).text = text
    elif check.status is Status.ERROR:
        ET.SubElement(case, "error", {"message": check.message}).text = text


def _operation_case(suite: ET.Element, group: str, op: OperationResult,
                    fail_on_inconclusive: bool, counted: bool = True) -> None:
    seconds = sum(op.old_samples) + sum(op.new_samples)
    case = ET.SubElement(suite, "testcase", {
        "classname": f"benchmark.{group}", "name": op.name, "time": f"{seconds:.3f}"})
    verdict = op.verdict
    message = op.description or verdict
    if not counted:  # a client-side difference nothing in what the clients do explains
        ET.SubElement(case, "skipped", {"message": f"{message}; {op.explanation}"})
    elif verdict == "regression" or (verdict == "inconclusive" and fail_on_inconclusive):
        ET.SubElement(case, "failure", {"message": message})
    elif verdict == "inconclusive":
        ET.SubElement(case, "skipped", {"message": message})


def _finish(suite: ET.Element) -> ET.Element:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for kind, attribute in (("failure", "failures"), ("error", "errors"),
                            ("skipped", "skipped")):
        suite.set(attribute, str(sum(1 for c in cases if c.find(kind) is not None)))
    suite.set("time", f"{sum(float(c.get('time', 0)) for c in cases):.3f}")
    return suite


def _scan_suite(root: ET.Element, results: RunResults) -> None:
    """A test case per scan finding: a break fails, a deprecation is skipped with its note."""
    suite = ET.SubElement(root, "testsuite", {"name": "your code", "timestamp":
                                              results.started_at})
    for finding in results.scan.findings if results.scan else []:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"scan.{finding.file}", "time": "0",
            "name": f"{finding.file}:{finding.line} {finding.api}"})
        message = finding.what + (f" [{finding.catalog}: {finding.source}]"
                                  if finding.catalog else "")
        kind = "failure" if finding.breaking else "skipped"
        ET.SubElement(case, kind, {"message": message})
    _finish(suite)


def _project_suites(root: ET.Element, results: RunResults) -> None:
    """The team's tests, one suite per side, each case with its outcome on that side."""
    for index, role in enumerate(("old", "new")):
        side = results.sides[index] if len(results.sides) > index else None
        version = (side.mlflow_version or side.spec) if side else role
        suite = ET.SubElement(root, "testsuite", {"name": f"your tests on {version}",
                                                  "timestamp": results.started_at})
        for test in results.project.tests if results.project else []:
            outcome = test.old if role == "old" else test.new
            if not outcome:
                continue
            case = ET.SubElement(suite, "testcase", {
                "classname": f"project.{version}", "name": test.test, "time": "0"})
            if outcome in ("failed", "error"):
                at = f" (at {test.team_frame})" if test.team_frame and not test.mlflow_call \
                    else ""
                ET.SubElement(case, "failure" if outcome == "failed" else "error",
                              {"message": f"{test.verdict}: {test.message}{at}"})
            elif outcome == "skipped":
                ET.SubElement(case, "skipped", {"message": test.message})
        _finish(suite)


def render_junit(results: RunResults) -> str:
    versions = " → ".join(s.mlflow_version or s.spec for s in results.sides[:2])
    root = ET.Element("testsuites", {"name": f"mlflow-upgrade-harness {versions}"})
    scenarios = ET.SubElement(root, "testsuite", {"name": "scenarios",
                                                  "timestamp": results.started_at})
    for check in results.checks:
        _check_case(scenarios, check)
    _finish(scenarios)
    if results.scan:
        _scan_suite(root, results)
    if results.project:
        _project_suites(root, results)
    bench = results.benchmark
    if bench is not None and bench.data and not bench.skipped:
        suite = ET.SubElement(root, "testsuite", {"name": "performance",
                                                  "timestamp": results.started_at})
        for part in bench.parts:
            for op in part.operations:
                _operation_case(suite, part.name, op, bench.strict, part.counted(op))
        _finish(suite)
    for attribute in ("tests", "failures", "errors", "skipped"):
        root.set(attribute, str(sum(int(s.get(attribute, 0)) for s in root)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"


def write_junit(results: RunResults, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(render_junit(results)))
