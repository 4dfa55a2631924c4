"""Report sections of one scenario each, built from the checks' observations."""

from __future__ import annotations

import shlex
from typing import Any

from harness.bench.records import (
    CauseResult,
    Evidence,
    GateResult,
    OperationResult,
    RemedyGate,
)
from harness.bench.result import BenchmarkResult
from harness.reports import differs
from harness.reports.bounds import first_line, head, more
from harness.results.model import CheckResult, RunResults, Status

CASES_SHOWN = 20  # DeltaOne cases
OPERATIONS_SHOWN = 20  # benchmark rows per comparison
CAUSES_SHOWN = 3
TEXT = 240  # characters of a cause's summary, source and remedy


def cell(value: object) -> str:
    """A value that is safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def migration_observations(results: RunResults) -> dict[str, Any]:
    """Everything the migration scenario's checks observed, merged."""
    observed: dict[str, Any] = {}
    for check in results.checks:
        if check.scenario == "migration":
            observed.update(check.observations)
    return observed


def migration_section(results: RunResults) -> list[str]:
    observed = migration_observations(results)
    upgrade = observed.get("upgrade")
    if not isinstance(upgrade, dict):
        return []
    lines = ["## Schema migration", ""]
    revisions = upgrade.get("revisions", [])
    lines.append(
        f"`mlflow db upgrade` took **{upgrade.get('seconds', 0):.1f}s**: "
        f"`{upgrade.get('from_revision')}` → `{upgrade.get('to_revision')}`, "
        f"{len(revisions)} revisions."
    )
    rows = observed.get("rows_checked")
    if rows is not None:
        damaged = observed.get("rows")
        damaged = damaged if isinstance(damaged, list) else []
        lines.append(f"Rows verified unchanged: {rows:,}" +
                     (f" — **{len(damaged)} tables damaged**" if damaged else ""))
    diff = observed.get("schema_diff")
    if isinstance(diff, dict):
        summary = ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in diff.items() if v)
        lines.append(f"Schema: {summary or 'unchanged'}.")
    rollback = observed.get("rollback")
    if isinstance(rollback, dict):
        refused = rollback.get("old_server_on_upgraded_db") == "refused"
        lines.append(
            ("No in-place rollback: the old server refuses the upgraded database "
             f"(`{cell(rollback.get('refusal', ''))}`). " if refused else "") +
            ("Restoring the snapshot brings the old server back with identical data."
             if rollback.get("restored_identical") else "**Restoring the snapshot did not "
             "give back identical data.**")
        )
    return lines + [""]  # each revision applied is listed in report.html


def deltaone_section(results: RunResults) -> list[str]:
    """Each case's verdict per version, and how the webhook was delivered; then the evaluation
    API: which calls exist on each version and whether their validation verdicts agree."""
    cases: dict[str, dict[str, CheckResult]] = {}
    for check in results.checks:
        if check.scenario == "deltaone":
            cases.setdefault(check.case.rsplit("::", 1)[-1], {})[check.side] = check
    if not cases:
        return []
    old, new = results.sides[0].mlflow_version, results.sides[1].mlflow_version
    lines = ["## DeltaOne", "", f"| Case | {old} | {new} | Delta | Webhook |"]
    lines.append("|---|---|---|---|---|")
    evaluation: dict[str, CheckResult] = {}
    listed = 0
    for name, pair in sorted(cases.items()):
        if name.startswith("test_evaluation_api"):
            evaluation = pair
            continue
        listed += 1
        if listed > CASES_SHOWN:
            continue
        label = name.partition("[")[2].rstrip("]") or name
        first = _first_detection(pair.get("from"))
        lines.append(
            f"| {cell(label)} | {_verdict(pair.get('from'))} | {_verdict(pair.get('to'))} | "
            f"{cell(first.get('delta') or '—')} | {_deliveries(pair.get('from'))} |"
        )
    lines.append("")
    lines += more(max(0, listed - CASES_SHOWN), "DeltaOne cases")
    if evaluation:
        lines += _evaluation_table(evaluation, old, new)
    return lines


def _first_detection(check: CheckResult | None) -> dict[str, Any]:
    detections = check.observations.get("detections") if check else None
    return detections[0] if isinstance(detections, list) and detections else {}


def _verdict(check: CheckResult | None) -> str:
    if check is None:
        return "—"
    verdict = _first_detection(check).get("verdict") or check.status.value
    return f"{'✅' if check.status is Status.PASSED else '❌'} {cell(verdict)}"


def _deliveries(check: CheckResult | None) -> str:
    webhook = check.observations.get("webhook") if check else None
    if not isinstance(webhook, list) or not webhook:
        return "none"
    answers = [str(d.get("answered")) for d in webhook]
    accepted = sum(1 for a in answers if a.startswith("2"))
    return f"{accepted} accepted of {len(answers)} ({', '.join(answers)})"


def _evaluation_table(pair: dict[str, CheckResult], old: str, new: str) -> list[str]:
    sides = [pair[side].observations if side in pair else {} for side in ("from", "to")]

    def names(group: str) -> list[str]:
        found: list[str] = []
        for observed in sides:
            found += [k for k in observed.get(group, {}) if k not in found]
        return found

    def row(label: str, value: Any) -> str:
        return f"| {label} | " + " | ".join(cell(value(observed)) for observed in sides) + " |"

    lines = ["Evaluation API (threshold validation of the improved model against the baseline):",
             "", f"| | {old} | {new} |", "|---|---|---|"]
    lines += [row(f"`{key}`", lambda o, k=key: o.get("api", {}).get(k, "—"))
              for key in names("api")]
    lines += [row(field.replace("_", " "), lambda o, f=field: o.get(f, "—"))
              for field in ("native_api", "legacy_call")]
    lines += [row(f"validation `{name}`", lambda o, n=name: o.get("verdicts", {}).get(n, "—"))
              for name in names("verdicts")]
    return lines + [""]


_VERDICT_ICON = {"regression": "❌", "improvement": "🚀", "unchanged": "✅", "inconclusive": "❔"}


def benchmark_section(results: RunResults) -> list[str]:
    """Per operation: both medians, new/old with its 95% interval, the verdict, and what
    pytest-benchmark's median rule would have said on the same samples."""
    bench = results.benchmark
    if bench is None or bench.skipped or not bench.data:
        return []
    lines = ["## Performance", "",
             f"Gate at +{bench.threshold:.0%}: **{'passed' if _gate_passed(bench) else 'failed'}"
             f"** · {bench.seconds:.0f}s · interleaved rounds, 95% intervals "
             "(Hodges–Lehmann on paired log-ratios)."]
    if bench.injected:
        lines.append("Latency injected on the new side (calibration): "
                     + _names([f"{op} +{fraction:.0%}" for op, fraction in bench.injected], 8)
                     + ".")
    lines += differs.probe_note(bench.probe)
    lines += causes_section(bench.causes)
    fixed = bench.settings.get("fixed_client") or "old-version"
    titles = {"server_side": f"Server side ({fixed} clients against both servers, kept-alive "
                             "and new connections)",
              "client_side": "Client side (each version's own client, new server)"}
    for part in bench.parts:
        lines += ["", f"### {titles[part.name]}", "",
                  f"{part.rounds} rounds. " + _gate_summary(part.gate), "",
                  "| Operation | Old median | New median | New/old [95% CI] | Verdict | "
                  "median rule |", "|---|---|---|---|---|---|"]
        operations, left = _decisive(part.operations)
        for op in operations:
            extra = f" (~{op.more_rounds} more rounds)" \
                if op.verdict == "inconclusive" and op.more_rounds else ""
            lines.append(
                f"| {cell(op.name)} | {op.old_median_s * 1000:.1f} ms | "
                f"{op.new_median_s * 1000:.1f} ms | {op.ratio_text()} | "
                f"{_VERDICT_ICON.get(op.verdict, '')} {op.verdict}{extra} | "
                f"{'fails' if op.median_rule_fails else 'passes'} |"
            )
        lines += ([""] + more(left, "operations") if left else [])
        lines += differs.part_lines(part)
    return lines + [""]


def _gate_passed(bench: BenchmarkResult) -> bool:
    """The gate as the phase recorded it (its `gate` entry: both parts' gates)."""
    return bool((bench.data.get("gate") or {}).get("passed"))


def _decisive(operations: list[OperationResult]) -> tuple[list[OperationResult], int]:
    """Every operation in measuring order when they fit in OPERATIONS_SHOWN rows; else the
    regressions, then the inconclusive ones, improvements and unchanged, in that order."""
    if len(operations) <= OPERATIONS_SHOWN:
        return operations, 0
    rank = {"regression": 0, "inconclusive": 1, "improvement": 2}
    ranked = sorted(operations, key=lambda op: rank.get(op.verdict, 3))
    return head(ranked, OPERATIONS_SHOWN)


def causes_section(causes: list[CauseResult]) -> list[str]:
    """The regressions grouped by cause: evidence, source, remedy and the gate re-run with it."""
    if not causes:
        return []
    lines = ["", "### Regressions by cause", ""]
    for cause in causes[:CAUSES_SHOWN]:
        lines.append(f"**{cell(cause.title)}** "
                     f"({len(cause.operations)} operation(s): {_names(cause.operations, 8)})")
        lines.append("")
        lines.append("- Evidence: " + "; ".join(_facts(cause.evidence)) + ".")
        lines += differs.cause_lines(cause.evidence)
        if cause.summary:
            lines.append(f"- Why: {first_line(cause.summary, TEXT)}")
        if cause.source:
            lines.append(f"- Source: {first_line(cause.source, TEXT)}"
                         + (f" (fix: {first_line(cause.fix, TEXT)})" if cause.fix else ""))
        if cause.remedy:
            lines.append(f"- Remedy: {first_line(cause.remedy, TEXT)}")
        lines += _remedy_gate(cause.remedy_gate)
        lines.append("")
    return lines + more(max(0, len(causes) - CAUSES_SHOWN), "causes")


def _facts(evidence: Evidence) -> list[str]:
    facts = [f"shape: {evidence.pattern}"]
    if evidence.median_offset_ms is not None:
        facts.append(f"median extra per request {evidence.median_offset_ms:.1f} ms")
    if evidence.median_ratio is not None:
        facts.append(f"median ratio {evidence.median_ratio:.2f}×")
    split = evidence.reused_vs_fresh
    if split:
        facts.append("new/old on kept-alive vs new connections: " + ", ".join(
            f"{op} {reused:.2f}× vs {fresh:.2f}×"
            for op, (reused, fresh) in list(split.items())[:4]) + (" …" if len(split) > 4
                                                                   else ""))
    return facts


def _remedy_gate(remedy: RemedyGate | None) -> list[str]:
    if remedy is None:
        return []
    if remedy.error:
        return [f"- Gate re-run with `{shlex.join(remedy.args)}`: the server did not start "
                f"({first_line(remedy.error, TEXT)})."]
    still = remedy.still_regress
    ratios = _names([f"{op} {ratio:.2f}×" for op, ratio in remedy.ratios.items()], 8)
    return [f"- Gate re-run with `{shlex.join(remedy.args)}` on the new server "
            f"({remedy.rounds} rounds): "
            + (f"**still slower: {_names(still, 8)}**" if still else "no operation slower")
            + (f" ({ratios})" if ratios else "") + "."]


def _gate_summary(gate: GateResult) -> str:
    regressions, inconclusive = gate.regressions, gate.inconclusive
    text = (f"**{len(regressions)} regression(s)**: {_names(regressions)}." if regressions
            else "No regression.")
    if inconclusive:
        text += f" {len(inconclusive)} inconclusive: {_names(inconclusive)}."
    return text


def _names(names: list[str], shown: int = 20) -> str:
    listed, left = head(names, shown)
    return ", ".join(listed) + (f" and {left} more" if left else "")
