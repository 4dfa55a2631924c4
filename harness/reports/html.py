"""report.html: one self-contained file (inline CSS and SVG, no script, nothing fetched).

Same content as report.md, in the same order, plus two charts: each operation's new/old ratio
with its 95% interval against the threshold line, and each version's latency distribution.
"""

from __future__ import annotations

import json
import math
import shlex
from html import escape
from pathlib import Path
from statistics import quantiles
from typing import Any

from harness.matrix import blocking_failures, check_counts, counts_line
from harness.redact import redact
from harness.reports import differs
from harness.reports.deployment import side_line, tables
from harness.reports.scale import scale_html
from harness.reports.sections import migration_observations
from harness.reports.traffic import traffic_html
from harness.results.model import Level, RunResults, SideInfo, Status
from harness.verdict import decide

COLOURS = {"regression": "#c62828", "improvement": "#2e7d32", "unchanged": "#546e7a",
           "inconclusive": "#ef6c00", "old": "#5c6bc0", "new": "#ef6c00"}
VERDICT_CLASS = {Level.SAFE: "safe", Level.CAVEATS: "caveats", Level.NOT_SAFE: "unsafe",
                 Level.NO_VERDICT: "none"}
# Symbols every Linux font has (a headless Chromium may have no emoji font).
CELL_TEXT = {"passed": "✓ passed", "failed": "✗ failed", "not_applicable": "– n/a"}
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1c1c1c;
padding:0 1rem}
h1{font-size:1.5rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:13px}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top;
max-width:420px;overflow-wrap:anywhere}
th{background:#f5f5f5}code,pre{font:12px ui-monospace,monospace;background:#f6f8fa}
pre{padding:.5rem;overflow-x:auto;white-space:pre-wrap}
.verdict{padding:1rem 1.25rem;border-radius:6px;margin:1rem 0}
.verdict h2{margin:0;border:0}
.safe{background:#e8f5e9;border-left:6px solid #2e7d32}
.caveats{background:#fff8e1;border-left:6px solid #ef6c00}
.unsafe{background:#ffebee;border-left:6px solid #c62828}
.none{background:#eceff1;border-left:6px solid #546e7a}
svg text{font:11px system-ui,sans-serif}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(headers: list[str], rows: list[list[str]], table_id: str = "") -> str:
    """Cells are HTML already (escape before)."""
    ident = f' id="{table_id}"' if table_id else ""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _verdict(results: RunResults) -> str:
    verdict = results.verdict or decide(results)
    reasons = "".join(f"<li>{_e(r)}</li>" for r in verdict.reasons) or \
        "<li>every check passed on both versions, no undocumented change, no slower " \
        "operation</li>"
    return (f'<section id="verdict" class="verdict {VERDICT_CLASS[verdict.level]}">'
            f"<h2>{_e(verdict.headline)}</h2><ul>{reasons}</ul></section>")


def _failures(results: RunResults) -> str:
    failed = blocking_failures(results.checks)
    if not failed:
        return ""
    parts = ["<h2>Failures</h2>"]
    for check in failed:
        cell = (f"{check.client_version} client → {check.server_version} server"
                if check.client_version else check.mlflow_version)
        parts.append(f"<h3>{_e(check.scenario)} on {_e(check.side)} ({_e(cell)})</h3>"
                     f"<p><b>Error:</b> <code>{_e(check.message)}</code></p>")
        if check.failing_call:
            parts.append(f"<p><b>Failing call:</b> <code>{_e(check.failing_call)}</code></p>")
        for name, text in check.logs.items():
            if text.strip():
                parts.append(f"<details><summary>{_e(name)} log</summary>"
                             f"<pre>{_e(text)}</pre></details>")
    return "".join(parts)


def _short(value: object, longest: int = 200) -> str:
    text = str(value)
    return _e(text if len(text) <= longest else text[:longest] + "…")


def _diff(results: RunResults) -> str:
    if not results.diff:
        return "<h2>Old vs new</h2><p>No differences in normalized observations.</p>"
    order = {"unexpected": 0, "expected": 1}
    differences = sorted((d for d in results.diff if d.classification != "finding"),
                         key=lambda d: (order.get(d.classification, 2), d.test))
    rows = [[_e(d.classification), _e(d.test), f"<code>{_e(d.path)}</code>",
             f"<code>{_short(d.old)}</code>", f"<code>{_short(d.new)}</code>",
             _e(d.summary) + (f" ({_e(d.catalog_id)})" if d.catalog_id else "")]
            for d in differences]
    findings = results.findings()
    listed = "".join(f"<li><code>{_e(d.path)}</code>: {_short(d.old)} → {_short(d.new)}</li>"
                     for d in findings)
    return ("<h2>Old vs new</h2>" +
            _table(["class", "test", "field", "old", "new", "why"], rows, "diff") +
            (f"<details><summary><b>{len(findings)} finding(s)</b>: true and worth acting on, "
             f"not failures by themselves</summary><ul>{listed}</ul></details>"
             if findings else ""))


def _matrix(results: RunResults) -> str:
    matrix = results.matrix
    if not matrix.cells:
        return ""
    rows = []
    for client in matrix.clients:
        row = [f"<b>{_e(client)}</b>"]
        for server in matrix.servers:
            found = matrix.cell(client, server)
            text = CELL_TEXT[found.status] + (" (advisory)" if found.status == "failed"
                                              and found.advisory else "")
            row.append(_e(text))
        rows.append(row)
    parts = ["<h2>Client × server compatibility</h2>",
             _table(["client ↓ · server →"] + [_e(s) for s in matrix.servers], rows,
                    "matrix")]
    for found in matrix.cells:
        for failure in found.failures:
            parts.append(f"<p>✗ {_e(found.client)} client → {_e(found.server)} server, "
                         f"<code>{_e(failure.test)}</code>: <code>{_e(failure.error)}"
                         f"</code></p>")
    return "".join(parts)


def _migration(results: RunResults) -> str:
    observed = migration_observations(results)
    upgrade = observed.get("upgrade")
    if not isinstance(upgrade, dict):
        return ""
    found = observed.get("rollback")
    rollback: dict[str, Any] = found if isinstance(found, dict) else {}
    rows = [
        ["revisions", _e(f"{upgrade.get('from_revision')} → {upgrade.get('to_revision')} "
                         f"({len(upgrade.get('revisions', []))} revisions)")],
        ["duration", _e(f"{upgrade.get('seconds', 0):.1f}s")],
        ["rows verified", _e(observed.get("rows_checked", "—"))],
        ["schema diff", _e(", ".join(f"{len(v)} {k}" for k, v in
                                     (observed.get("schema_diff") or {}).items() if v)
                           or "unchanged")],
        ["rollback", _e("restore of the snapshot gives identical data"
                        if rollback.get("restored_identical") else str(rollback or "—"))],
    ]
    revisions = "".join(f"<li><code>{_e(r.get('id'))}</code> {_e(r.get('description', ''))}"
                        "</li>" for r in upgrade.get("revisions", []))
    return ("<h2>Schema migration</h2>" + _table(["", ""], rows, "migration") +
            (f"<details><summary>Revisions applied</summary><ul>{revisions}</ul></details>"
             if revisions else ""))


def _defects(results: RunResults) -> str:
    """Each check that reproduced a known defect, with the defect's summary and source."""
    rows = [[_e(c.case or c.test), _e(c.side), _e(c.defect.get("id", "")),
             _e(c.defect.get("summary", "")),
             f"<code>{_e(c.defect.get('source', ''))}</code>"]
            for c in results.checks if c.status is Status.KNOWN_DEFECT]
    if not rows:
        return ""
    return ("<h2>Known defects reproduced</h2>" +
            _table(["test", "cell", "defect", "what", "source"], rows, "defects"))


def _x(value: float, low: float, high: float, width: float) -> float:
    return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low)) * width


def _ratio_chart(results: RunResults) -> str:
    """Each operation's ratio and interval on a log axis, with 1× and the threshold lines."""
    bench = results.benchmark
    if bench is None:
        return ""
    threshold = bench.threshold
    items = [(f"{op.name}{' (client)' if part.name == 'client_side' else ''}", op)
             for part in bench.parts for op in part.operations if op.ratio]
    if not items:
        return ""
    values = [v for _, op in items for v in (op.low, op.high, op.ratio) if v]
    low = min(0.5, min(values) / 1.1)
    high = min(max(2.0, max(values) * 1.1), 200.0)
    left, width, row = 190, 640, 18
    height = row * len(items) + 40
    parts = [f'<svg id="performance-ratios" role="img" width="{left + width + 90}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
             "<title>new/old per operation, 95% interval, against the threshold</title>"]
    for mark, colour, dash in ((1.0, "#999", ""), (1 + threshold, "#c62828", "4,3"),
                               (1 / (1 + threshold), "#2e7d32", "4,3")):
        x = left + _x(mark, low, high, width)
        parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - 25}" '
                     f'stroke="{colour}" stroke-dasharray="{dash}"/>'
                     f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">{mark:.2f}×'
                     "</text>")
    for index, (name, op) in enumerate(items):
        y = 20 + index * row
        colour = COLOURS.get(op.verdict, "#333")
        assert op.ratio is not None
        ratio = min(max(op.ratio, low), high)
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end">{_e(name)}</text>')
        if op.low and op.high:
            x1 = left + _x(min(max(op.low, low), high), low, high, width)
            x2 = left + _x(min(max(op.high, low), high), low, high, width)
            parts.append(f'<line x1="{x1:.1f}" y1="{y}" x2="{x2:.1f}" y2="{y}" '
                         f'stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<circle cx="{left + _x(ratio, low, high, width):.1f}" cy="{y}" r="4" '
                     f'fill="{colour}"><title>{_e(op.description)}</title>'
                     "</circle>")
        parts.append(f'<text x="{left + width + 8}" y="{y + 4}">{op.ratio:.2f}×</text>')
    parts.append("</svg>")
    return "".join(parts)


def _box(values: list[float]) -> tuple[float, float, float, float, float]:
    if len(values) < 2:
        only = values[0]
        return only, only, only, only, only
    q1, q2, q3 = quantiles(values, n=4, method="inclusive")
    return min(values), q1, q2, q3, max(values)


def _latency_chart(results: RunResults) -> str:
    """Box plots of each operation's latencies, old and new, on a log time axis (server side)."""
    server = [part for part in results.benchmark.parts
              if part.name == "server_side"] if results.benchmark else []
    rows = [(op.name, side, values) for part in server for op in part.operations
            for side, values in (("old", op.old_samples), ("new", op.new_samples)) if values]
    if not rows:
        return ""
    every = [v for _, _, values in rows for v in values if v > 0]
    low, high = min(every) / 1.2, max(every) * 1.2
    left, width, row = 190, 640, 14
    height = row * len(rows) + 40
    parts = [f'<svg id="latency-distributions" role="img" width="{left + width + 90}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
             "<title>latency per operation: old and new server (box: quartiles)</title>"]
    for index, side in enumerate(("old", "new")):
        legend = left + width - 110 + index * 60
        parts.append(f'<rect x="{legend}" y="0" width="10" height="10" fill="{COLOURS[side]}" '
                     f'fill-opacity="0.5" stroke="{COLOURS[side]}"/>'
                     f'<text x="{legend + 14}" y="9">{side}</text>')
    for tick in (0.001, 0.01, 0.1, 1.0, 10.0, 100.0):
        if low <= tick <= high:
            x = left + _x(tick, low, high, width)
            label = f"{tick * 1000:g} ms" if tick < 1 else f"{tick:g} s"
            parts.append(f'<line x1="{x:.1f}" y1="8" x2="{x:.1f}" y2="{height - 25}" '
                         f'stroke="#eee"/><text x="{x:.1f}" y="{height - 10}" '
                         f'text-anchor="middle">{label}</text>')
    for index, (op, side, values) in enumerate(rows):
        y = 16 + index * row
        colour = COLOURS[side]
        positive = [max(v, low) for v in values]
        lo, q1, q2, q3, hi = (left + _x(v, low, high, width) for v in _box(positive))
        if side == "old":
            parts.append(f'<text x="{left - 8}" y="{y + 9}" text-anchor="end">{_e(op)}</text>')
        parts.append(f'<line x1="{lo:.1f}" y1="{y}" x2="{hi:.1f}" y2="{y}" stroke="{colour}"/>'
                     f'<rect x="{q1:.1f}" y="{y - 4}" width="{max(q3 - q1, 1):.1f}" height="8" '
                     f'fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>'
                     f'<line x1="{q2:.1f}" y1="{y - 5}" x2="{q2:.1f}" y2="{y + 5}" '
                     f'stroke="{colour}" stroke-width="2"><title>{_e(side)}: median '
                     f"{_box(values)[2] * 1000:.1f} ms</title></line>")
    parts.append("</svg>")
    return "".join(parts)


def _performance(results: RunResults) -> str:
    bench = results.benchmark
    if bench is None or bench.skipped or not bench.data:
        return ""
    passed = (bench.data.get("gate") or {}).get("passed")
    threshold = bench.threshold
    rows = []
    explained = any(op.explanation for part in bench.parts for op in part.operations)
    for part in bench.parts:
        for op in part.operations:
            rows.append([_e(op.name), _e(part.name.replace("_", " ")),
                         _e(f"{op.old_median_s * 1000:.1f} ms"),
                         _e(f"{op.new_median_s * 1000:.1f} ms"),
                         _e(op.ratio_text()),
                         f'<span style="color:{COLOURS.get(op.verdict, "#333")}">'
                         f"{_e(op.verdict)}</span>"]
                        + ([_e(op.explanation)] if explained else []))
    note = " ".join(differs.probe_note(bench.probe)).strip()
    return (f"<h2>Performance</h2><p>Gate at +{threshold:.0%}: "
            f"<b>{'passed' if passed else 'failed'}</b>; new/old per operation with its 95% "
            "interval (dashed red: the threshold).</p>" + (f"<p>{_e(note)}</p>" if note else "")
            + _ratio_chart(results) +
            "<h3>Latency distributions (server side)</h3>" + _latency_chart(results) +
            _table(["operation", "side", "old median", "new median", "new/old [95% CI]",
                    "verdict"] + (["what differs"] if explained else []), rows, "performance"))


def _server_setup(side: SideInfo) -> str:
    """What the side's `mlflow server` ran, under its spec (nothing for client-only roles)."""
    setup = side.server_setup
    if not setup:
        return ""
    args = (f"<code>{_e(shlex.join(side.server_args))}</code>" if side.server_args
            else "no extra arguments")
    return (f"<br><small>server: {_e(setup.get('sgi'))}, {_e(setup.get('workers'))} worker(s) "
            f"({_e(setup.get('workers_from'))}); {args}</small>")


def _environment(results: RunResults) -> str:
    rows = [[_e(s.role), f"<code>{_e(s.spec)}</code>" + (
                 f" (server: image <code>{_e(s.server_image)}</code>)" if s.server_image else "")
             + _server_setup(s),
             _e(s.mlflow_version),
             f"<code>{_e(s.env_digest)}</code>", _e(len(s.packages))] for s in results.sides]
    machine = ", ".join(f"{k}: {v}" for k, v in results.machine.items())
    services = ", ".join(f"{k}: {v}" for k, v in results.services.items())
    phases = " · ".join(f"{name} {sec:.1f}s" for name, sec in results.phases.items())
    packages = "".join(
        f"<details><summary>{_e(s.role)} packages</summary><pre>"
        + _e("\n".join(f"{k}=={v}" for k, v in sorted(s.packages.items()))) + "</pre></details>"
        for s in results.sides if s.packages)
    return ("<h2>Environment</h2>" +
            _table(["side", "spec", "MLflow", "environment", "packages"], rows, "environment") +
            f"<p>Services: {_e(services or 'not started')} · Machine: {_e(machine)}</p>"
            + (f"<p>Phases: {_e(phases)}</p>" if phases else "") + packages)


def _scenarios(results: RunResults) -> str:
    if not results.checks:
        return ""
    icon = {Status.PASSED: "✓", Status.FAILED: "✗", Status.ERROR: "‼", Status.SKIPPED: "–",
            Status.KNOWN_DEFECT: "⚑"}
    rows = [[_e(c.scenario), _e(c.case or c.test), _e(c.side),
             _e(f"{c.client_version} → {c.server_version}" if c.client_version
                else c.mlflow_version), _e(f"{icon[c.status]} {c.status.value}"),
             _e(f"{c.duration_s:.1f}s")] for c in results.checks]
    return ("<details><summary><b>Every check</b> "
            f"({len(results.checks)})</summary>" +
            _table(["scenario", "test", "cell", "client → server", "result", "time"], rows,
                   "checks") + "</details>")


def _your_code(results: RunResults) -> str:
    scan, project = results.scan, results.project
    tests = [[_e(t.test), _e(t.verdict), _e(f"{t.old} → {t.new}"),
              _e(t.message or ""), _e(t.mlflow_call or ""),
              _e(" · the value from ".join(x for x in (t.team_frame, t.value_from) if x))]
             for t in (project.tests if project else []) if t.verdict != "passed"]
    suite = (f"<p>Your tests: {_e(json.dumps(project.summary))}</p>" + _table(
        ["test", "verdict", "old → new", "message", "MLflow call", "your line"], tests,
        "project") if project else "")
    if not scan:
        return "<h2>Your code</h2>" + suite if project else ""
    rows = [[_e(f"{f.file}:{f.line}"), f"<code>{_e(f.api)}</code>",
             "check" if f.check else "break" if f.breaking else "deprecated", _e(f.what),
             _e(f.catalog or ""), _e(f.source or "")]
            for f in scan.findings]
    intro = (f"<p>Breaking-change scan {_e(scan.old_version)} → {_e(scan.new_version)}: "
             f"{len(rows)} finding(s) in {scan.files_scanned} files with MLflow "
             f"uses.</p>")
    return "<h2>Your code</h2>" + intro + (
        _table(["where", "API", "kind", "what changed", "catalog", "source"], rows, "scan")
        if rows else "") + suite


def _deployment(results: RunResults) -> str:
    if results.deployment is None:
        return ""
    versions = {s.role: s.mlflow_version for s in results.sides}
    parts = ["<h2>Deployment</h2><ul>" + "".join(
        f"<li>{_e(side_line(side, versions.get(side.role, '')))}</li>"
        for side in results.deployment.sides) + "</ul>"]
    for table in tables(results.deployment):
        intro = "".join(f"<p>{_e(line)}</p>" for line in table.intro.splitlines())
        same = f"<p>{table.same} setting(s) the same on both sides.</p>" if table.same else ""
        rows = [[_e(cell) for cell in row] for row in table.rows]
        parts.append(f"<h3>{_e(table.title)}</h3>{intro}"
                     + (_table(table.headers, rows) if rows else "") + same)
    return "".join(parts)


def render_html(results: RunResults) -> str:
    versions = " → ".join(s.mlflow_version or s.spec for s in results.sides[:2])
    summary = (f"{counts_line(check_counts(results.checks))} · run {results.run_id} · "
               f"{results.duration_s:.0f}s")
    body = "".join([
        f"<h1>MLflow upgrade check: {_e(versions)}</h1>", _verdict(results),
        f"<p>{_e(summary)}</p>", traffic_html(results), _your_code(results),
        _failures(results), _defects(results),
        _deployment(results), _diff(results),
        _matrix(results),
        _migration(results), _performance(results), scale_html(results, _table),
        _scenarios(results), _environment(results),
    ])
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>MLflow upgrade check {_e(versions)}</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>\n")


def write_html(results: RunResults, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(render_html(results)))
