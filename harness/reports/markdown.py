"""report.md: fits a CI job summary or a pull-request comment."""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import Path

from harness.matrix import blocking_failures, check_counts, counts_line
from harness.redact import redact
from harness.reports.bounds import HTML, code, first_line, fit, head, more
from harness.reports.deployment import deployment_section
from harness.reports.differences import differences_section
from harness.reports.matrix import matrix_section
from harness.reports.scale import scale_section
from harness.reports.sections import benchmark_section, deltaone_section, migration_section
from harness.reports.sections import cell as _cell
from harness.reports.traffic import traffic_section
from harness.reports.your_code import your_code_section
from harness.results.model import CheckResult, Level, RunResults, SideInfo, Status
from harness.verdict import decide

VERDICT_ICON = {Level.SAFE: "✅", Level.CAVEATS: "⚠️", Level.NOT_SAFE: "❌",
                Level.NO_VERDICT: "⛔"}
FAILURES_SHOWN = 15
MESSAGE = 160  # characters of a failure's first line
CALL = 120  # characters of its failing call
DEFECTS_SHOWN = 15
SCENARIOS_SHOWN = 30
SIDES_SHOWN = 8
PHASES_SHOWN = 16
ERROR_LINES = 5
REASON = 600  # characters of a verdict reason (results.json keeps it whole)


def render_markdown(results: RunResults) -> str:
    """Verdict and reasons first; then failures (first lines), known defects, the classified
    diff, the matrix, migration, DeltaOne, performance, per-scenario counts and the
    environment: summaries bounded to fit a pull-request comment (reports/bounds.py). Logs,
    every difference, every check and the raw tables are in report.html."""
    old, new = results.sides[0], results.sides[1]
    lines = [
        f"# MLflow upgrade check: {old.mlflow_version or old.spec} → "
        f"{new.mlflow_version or new.spec}",
        "",
    ]
    lines += _verdict(results) + traffic_section(results) + your_code_section(results)
    lines += _failures(results)
    lines += _defects(results) + deployment_section(results)
    lines += differences_section(results) + matrix_section(results)
    lines += migration_section(results) + deltaone_section(results)
    lines += benchmark_section(results) + scale_section(results)
    lines += _scenarios(results) + _environment(results)
    return fit("\n".join(lines))


def _verdict(results: RunResults) -> list[str]:
    verdict = results.verdict or decide(results)
    lines = [f"## {VERDICT_ICON[verdict.level]} {verdict.headline}", ""]
    lines += [f"- {first_line(reason, REASON)}" for reason in verdict.reasons] or [
        "- every check passed on both versions, no undocumented change, no slower operation"]
    lines += [""]
    if results.error:
        shown, left = head(results.error.splitlines(), ERROR_LINES)
        lines += [f"> {first_line(line, 200)}  " for line in shown]
        lines += [f"> … {left} more line(s) in `results.json` and `logs/`"] if left else []
        lines += [""]
    lines += [
        f"Checks: {counts_line(check_counts(results.checks))} · run `{results.run_id}` · "
        f"{results.duration_s:.0f}s",
        "",
        f"Logs, every difference, every check and the raw benchmark tables: {HTML}.",
        "",
    ]
    return lines


def _failures(results: RunResults) -> list[str]:
    """One line per failure (its error's first line and the failing call), up to a bound; the
    rest counted per scenario."""
    failures = blocking_failures(results.checks)
    if not failures:
        return []
    lines = ["## Failures", ""]
    shown, left = head(failures, FAILURES_SHOWN)
    for check in shown:
        line = (f"- **{_cell(check.scenario)}** on {_where(check)}, "
                f"`{first_line(check.case or check.test, 100)}`: "
                f"{code(check.message, MESSAGE)}")
        if check.failing_call:
            line += f" — failing call {code(check.failing_call, CALL)}"
        lines.append(line)
    if left:
        rest = Counter(check.scenario for check in failures[FAILURES_SHOWN:])
        lines += ["", "Also failed: " + ", ".join(
            f"{_cell(name)} ×{count}" for name, count in rest.most_common(12))
            + (" …" if len(rest) > 12 else "") + "."]
        lines += more(left, "failures with their messages, failing calls and logs")
    return lines + [""]


def _defects(results: RunResults) -> list[str]:
    """One line per known defect: what it is, its source, and the cells it showed in."""
    by_id: dict[str, list[CheckResult]] = {}
    for check in results.checks:
        if check.status is Status.KNOWN_DEFECT:
            by_id.setdefault(check.defect.get("id", ""), []).append(check)
    if not by_id:
        return []
    lines = ["## Known defects reproduced", ""]
    shown, left = head(sorted(by_id.items()), DEFECTS_SHOWN)
    for defect_id, checks in shown:
        defect = checks[0].defect
        where = list(dict.fromkeys(_where(c) for c in checks))
        cells, more_cells = head(where, 4)
        lines.append(
            f"- [{defect_id}]({defect.get('source', '')}): "
            f"{first_line(defect.get('summary', ''), 200)} — in {', '.join(cells)}"
            + (f" and {more_cells} more" if more_cells else ""))
    return lines + [""] + more(left, "known defects") + ([""] if left else [])


def _scenarios(results: RunResults) -> list[str]:
    """Per scenario: how many checks (tests × cells) passed, failed, were known defects or
    skipped, and their total time. Every check is in report.html."""
    if not results.checks:
        return []
    by_scenario: dict[str, list[CheckResult]] = {}
    for check in results.checks:
        by_scenario.setdefault(check.scenario, []).append(check)
    lines = ["## Scenarios", "", "| Scenario | Checks | Passed | Failed | Known defects | "
             "Skipped | Time |", "|---|---|---|---|---|---|---|"]
    shown, left = head(sorted(by_scenario.items()), SCENARIOS_SHOWN)
    for name, checks in shown:
        count = Counter(c.status for c in checks)
        failed = count[Status.FAILED] + count[Status.ERROR]
        lines.append(
            f"| {_cell(name)} | {len(checks)} | {count[Status.PASSED]} | "
            f"{f'❌ {failed}' if failed else 0} | {count[Status.KNOWN_DEFECT]} | "
            f"{count[Status.SKIPPED]} | {sum(c.duration_s for c in checks):.0f}s |")
    return lines + [""] + more(left, "scenarios") + ([""] if left else [])


def _environment(results: RunResults) -> list[str]:
    lines = ["## Environment", "", "| Side | Spec | MLflow | Environment | Server start |"]
    lines += ["|---|---|---|---|---|"]
    for side in results.sides[:SIDES_SHOWN]:
        how = "cached" if side.env_reused else f"built {side.env_build_s:.0f}s"
        lines.append(
            f"| {side.role} | `{_cell(side.spec)}`"
            f"{f' (server: image `{_cell(side.server_image)}`)' if side.server_image else ''} | "
            f"{side.mlflow_version} | "
            f"`{side.env_digest}` ({how}) | {side.server_startup_s:.1f}s |"
        )
    servers = [server_line(side) for side in results.sides[:SIDES_SHOWN] if side.server_setup]
    lines += [""] + servers if servers else []
    services = ", ".join(f"{k}: {v}" for k, v in results.services.items())
    machine = ", ".join(f"{k}: {v}" for k, v in results.machine.items())
    lines += ["", f"Services: {services or 'not started'}", "",
              f"Machine: {machine or 'unknown'} · harness {results.harness_version}", ""]
    packages = ", ".join(f"{side.role} {len(side.packages)}" for side in results.sides
                         if side.packages)
    if packages:  # the resolved environments, package by package, are in report.html
        lines += [f"Resolved packages: {packages} (listed in {HTML}).", ""]
    if results.phases:
        shown, left = head(list(results.phases.items()), PHASES_SHOWN)
        phases = " · ".join(f"{_cell(name)} {sec:.1f}s" for name, sec in shown)
        lines += [f"Phases: {phases}" + (f" · … {left} more" if left else ""), ""]
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
