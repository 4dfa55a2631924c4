"""The "Your code" section of report.md, first after the verdict: the breaking-change scan's
findings by file, then the team's tests that did not pass on both versions (bounded;
results.json keeps them all)."""

from __future__ import annotations

from harness.project.compare import NEWLY_FAILING_MODULE, TestComparison
from harness.project.result import ProjectResult
from harness.reports.bounds import first_line, head
from harness.results.model import RunResults, Status
from harness.scan.findings import Finding

FILES = 15
PER_FILE = 12
WHAT = 220  # characters of what changed


def _line(finding: Finding) -> str:
    also = finding.also_at
    more = f" (also lines {', '.join(map(str, also[:5]))}{'…' if len(also) > 5 else ''})" \
        if also else ""
    doc = f" — [{finding.catalog}]({finding.source})" if finding.catalog and \
        finding.source.startswith("http") else (
        f" — {finding.catalog}" if finding.catalog else "")
    return (f"- line {finding.line}{more}: `{finding.api}` — "
            f"{first_line(finding.what, WHAT)}{doc}")


TESTS = 20
MESSAGE = 200


def _outcomes(test: TestComparison) -> str:
    held = f"; its {len(test.covers)} test(s) did not run" if test.covers else ""
    return f"{test.old or '—'} → {test.new or '—'}{held}"


def _where(test: TestComparison) -> str:
    """The team's line behind a failure: the MLflow call, or the innermost frame in the
    team's code (an import of a module that is gone: "imported at") and where its value came
    from."""
    if test.mlflow_call:
        return f" — from `{first_line(test.mlflow_call, MESSAGE)}`"
    if not test.team_frame:
        return ""
    verb = "imported at" if test.verdict == NEWLY_FAILING_MODULE else "at"
    value = f" (the value from `{first_line(test.value_from, MESSAGE)}`)" if test.value_from \
        else ""
    return f" — {verb} `{first_line(test.team_frame, MESSAGE)}`{value}"


def _tests(project: ProjectResult | None) -> list[str]:
    if not project:
        return []
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in project.summary.items())
    lines = [f"**Your tests** (`{project.path}`): {counts or 'none ran'}.", ""]
    for side, why in project.conflicts.items():
        lines.append(f"- requirements do not install on the {side} side: "
                     f"{first_line(why, MESSAGE)}")
    shown, hidden = head([t for t in project.tests if t.verdict not in ("passed", "skipped")],
                         TESTS)
    for test in shown:
        lines.append(f"- {test.verdict.replace('_', ' ')}: `{test.test}` "
                     f"({_outcomes(test)})"
                     f"{': ' + first_line(test.message, MESSAGE) if test.message else ''}"
                     f"{_where(test)}")
    lines += [f"- … and {hidden} more in results.json (`project`)"] if hidden else []
    return lines + [""]


def _scenarios(results: RunResults) -> list[str]:
    """The team's scenarios: checks passed of run, per scenario, and those that did not."""
    lines = []
    for name in results.team_scenarios:
        checks = [c for c in results.checks if c.scenario == name]
        passed = sum(1 for c in checks if c.status is Status.PASSED)
        bad = [f"`{c.side}` {c.status.value}" for c in checks
               if c.status in (Status.FAILED, Status.ERROR)]
        lines.append(f"- scenario `{name}`: {passed}/{len(checks)} checks passed"
                     + (f" ({', '.join(bad[:6])})" if bad else ""))
    return (["**Your scenarios**", ""] + lines + [""]) if lines else []


def _files(findings: list[Finding]) -> list[str]:
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        by_file.setdefault(finding.file, []).append(finding)
    lines: list[str] = []
    files, hidden_files = head(sorted(by_file), FILES)
    for file in files:
        shown, hidden = head(by_file[file], PER_FILE)
        lines += [f"**`{file}`**", ""] + [_line(f) for f in shown]
        lines += [f"- … and {hidden} more in results.json (`scan`)"] if hidden else []
        lines.append("")
    if hidden_files:
        lines += [f"… and {hidden_files} more files in results.json (`scan`).", ""]
    return lines


def your_code_section(results: RunResults) -> list[str]:
    scan, project = results.scan, results.project
    if not scan and not project and not results.team_scenarios:
        return []
    if not scan:
        return ["## Your code", ""] + _tests(project) + _scenarios(results)
    findings = scan.findings
    lines = ["## Your code", "",
             f"Breaking-change scan of {', '.join(f'`{p}`' for p in scan.paths)} "
             f"({scan.files_scanned} files with {scan.uses} MLflow uses), "
             f"{scan.old_version or '?'} → {scan.new_version or '?'}: "
             f"{len(findings)} finding(s).", ""]
    lines += _files([f for f in findings if not f.check])
    if scan.checks:
        lines += [f"**Behaviour changed: check** ({len(scan.checks)}: not breaks; places "
                  "whose result may differ on the new version)", ""]
        lines += _files(scan.checks)
    return lines + _tests(project) + _scenarios(results)
