"""report.md: fits a CI job summary or a pull-request comment."""

from __future__ import annotations

import shlex
from pathlib import Path

from harness.matrix import blocking_failures
from harness.redact import redact
from harness.results.model import CheckResult, DiffEntry, RunResults, SideInfo, Status
from harness.verdict import Level, decide
from reports.matrix import matrix_section
from reports.sections import benchmark_section, deltaone_section, migration_section
from reports.sections import cell as _cell

VERDICT_ICON = {Level.SAFE: "✅", Level.CAVEATS: "⚠️", Level.NOT_SAFE: "❌",
                Level.NO_VERDICT: "⛔"}
_ICON = {
    Status.PASSED: "✅", Status.FAILED: "❌", Status.ERROR: "💥", Status.SKIPPED: "⏭️",
    Status.KNOWN_DEFECT: "🐞",
}


def render_markdown(results: RunResults) -> str:
    """Verdict and reasons first; then failures, the classified diff, the matrix, migration,
    DeltaOne, performance, every check, and the environment."""
    old, new = results.sides[0], results.sides[1]
    lines = [
        f"# MLflow upgrade check: {old.mlflow_version or old.spec} → "
        f"{new.mlflow_version or new.spec}",
        "",
    ]
    lines += _verdict(results) + _failures(results) + _defects(results)
    lines += _differences(results) + matrix_section(results)
    lines += migration_section(results) + deltaone_section(results)
    lines += benchmark_section(results) + _checks(results) + _environment(results)
    return "\n".join(lines)


def _verdict(results: RunResults) -> list[str]:
    verdict = decide(results)
    lines = [f"## {VERDICT_ICON[verdict.level]} {verdict.headline}", ""]
    lines += [f"- {_cell(reason)}" for reason in verdict.reasons] or [
        "- every check passed on both versions, no undocumented change, no slower operation"]
    lines += [""]
    if results.error:
        lines += [f"> {_cell(results.error)}", ""]
    counts = results.counts()
    lines += [
        f"Checks: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['error']} errors, {counts['skipped']} skipped, "
        f"{counts['known_defect']} known defects · "
        f"run `{results.run_id}` · {results.duration_s:.0f}s",
        "",
    ]
    return lines


def _failures(results: RunResults) -> list[str]:
    lines: list[str] = []
    failures = blocking_failures(results.checks)
    if failures:
        lines += ["## Failures", ""]
        for check in failures:
            lines += [f"### {check.scenario} on {_where(check)}", ""]
            lines += [f"- **Error:** `{_cell(check.message)}`"]
            if check.failing_call:
                lines += [f"- **Failing call:** `{_cell(check.failing_call)}`"]
            for name, text in check.logs.items():
                if text.strip():
                    lines += ["", f"<details><summary>{name} log</summary>", "", "```"]
                    lines += text.splitlines()[-20:] + ["```", "</details>"]
            lines += [""]
    return lines


def _defects(results: RunResults) -> list[str]:
    lines: list[str] = []
    defects = [c for c in results.checks if c.status is Status.KNOWN_DEFECT]
    if defects:
        lines += ["## Known defects reproduced", ""]
        for check in defects:
            lines.append(
                f"- **{_where(check)}**, `{_cell(check.case)}`: "
                f"{_cell(check.defect.get('summary', ''))} ([{check.defect.get('id', '')}]"
                f"({check.defect.get('source', '')}))"
            )
        lines += [""]
    return lines


def _checks(results: RunResults) -> list[str]:
    lines: list[str] = []
    if results.checks:
        lines += ["## Scenarios", "", "| Scenario | Cell | Client → server | Result | Time |"]
        lines += ["|---|---|---|---|---|"]
        for check in results.checks:
            versions = f"{check.client_version} → {check.server_version}" \
                if check.client_version else check.mlflow_version
            lines.append(
                f"| {_cell(check.scenario)} | {check.side} | {versions} | "
                f"{_ICON[check.status]} {check.status.value} | {check.duration_s:.1f}s |"
            )
        lines += [""]
    return lines


def _differences(results: RunResults) -> list[str]:
    lines = ["## Old vs new", ""]
    unexpected = results.unexpected_differences()
    findings = results.findings()
    expected = [d for d in results.diff if d.classification == "expected"]
    if not results.diff:
        lines += ["No differences in normalized observations."]
    if unexpected:
        lines += [f"**{len(unexpected)} unexpected difference(s)** — not documented in the "
                  "catalog; they fail the run:", ""]
        lines += ["| Test | Field | Old | New |", "|---|---|---|---|"]
        for entry in unexpected:
            lines.append(
                f"| {_cell(entry.test)} | `{_cell(entry.path)}` | `{_cell(entry.old)}` | "
                f"`{_cell(entry.new)}` |"
            )
        lines += [""]
    if expected:
        lines += [f"{len(expected)} expected difference(s), documented:", ""]
        lines += ["| Test | Field | Old | New | Why |", "|---|---|---|---|---|"]
        for entry in expected:
            lines.append(
                f"| {_cell(entry.test)} | `{_cell(entry.path)}` | `{_cell(entry.old)}` | "
                f"`{_cell(entry.new)}` | {_cell(entry.summary)} ([{entry.catalog_id}]"
                f"({entry.source.split()[0]})) |"
            )
    if findings:
        lines += ["", f"**{len(findings)} finding(s)** — true and worth acting on, not failures "
                  "by themselves:", ""]
        groups: dict[str, list[DiffEntry]] = {}
        for entry in findings:
            groups.setdefault(entry.catalog_id, []).append(entry)
        for kind, entries in groups.items():
            lines += [f"- **{kind}** ({len(entries)}): {_cell(entries[0].summary)}",
                      "  <details><summary>which</summary>", ""]
            lines += [f"  - `{_cell(e.path)}`: `{_cell(e.old)}` → `{_cell(e.new)}` "
                      f"({_cell(e.test)})" for e in entries]
            lines += ["", "  </details>"]
    return lines + [""]


def _environment(results: RunResults) -> list[str]:
    lines = ["## Environment", "", "| Side | Spec | MLflow | Environment | Server start |"]
    lines += ["|---|---|---|---|---|"]
    for side in results.sides:
        how = "cached" if side.env_reused else f"built {side.env_build_s:.0f}s"
        lines.append(
            f"| {side.role} | `{_cell(side.spec)}`"
            f"{f' (server: image `{_cell(side.server_image)}`)' if side.server_image else ''} | "
            f"{side.mlflow_version} | "
            f"`{side.env_digest}` ({how}) | {side.server_startup_s:.1f}s |"
        )
    servers = [server_line(side) for side in results.sides if side.server_setup]
    lines += [""] + servers if servers else []
    services = ", ".join(f"{k}: {v}" for k, v in results.services.items())
    machine = ", ".join(f"{k}: {v}" for k, v in results.machine.items())
    lines += ["", f"Services: {services or 'not started'}", "",
              f"Machine: {machine or 'unknown'} · harness {results.harness_version}", ""]
    for side in results.sides:
        if side.packages:  # the resolved environment, for reproducing a verdict
            lines += [f"<details><summary>{side.role} ({side.mlflow_version}): "
                      f"{len(side.packages)} packages</summary>", "", "```"]
            lines += [f"{name}=={version}" for name, version in sorted(side.packages.items())]
            lines += ["```", "</details>", ""]
    if results.phases:
        phases = " · ".join(f"{name} {sec:.1f}s" for name, sec in results.phases.items())
        lines += [f"Phases: {phases}", ""]
    return lines


def server_line(side: SideInfo) -> str:
    """One line per side: what its `mlflow server` ran, and the extra arguments it was given."""
    setup = side.server_setup
    workers = setup.get("workers")
    text = _cell(shlex.join(side.server_args))
    args = ("none" if not side.server_args else f"`` {text} ``" if "`" in text else f"`{text}`")
    return (f"- Server {side.role} ({side.mlflow_version}): {setup.get('sgi')}, {workers} "
            f"worker{'' if workers == 1 else 's'} ({setup.get('workers_from')}); extra "
            f"`mlflow server` arguments: {args}")


def _where(check: CheckResult) -> str:
    if check.client_version and check.client_version != check.server_version:
        return f"{check.side} ({check.client_version} client → {check.server_version} server)"
    return f"{check.side} ({check.mlflow_version})"


def write_markdown(results: RunResults, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(render_markdown(results)))
