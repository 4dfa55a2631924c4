"""The "At your scale" section (report.md and report.html): the store, the migration's
downtime with its per-revision table, the slowest searches and each server's memory.

`scale_parts` says it once, as lines and tables; `scale_section` writes them as Markdown (the
revisions that took time or held writes, the rest in report.html) and html.py as HTML (every
revision).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

from harness.reports.bounds import code, head, more
from harness.results.model import RunResults

REVISIONS_SHOWN = 10
NOTABLE_S = 0.05  # a revision this long (or one that held or failed writes) is in report.md
MB = 1024 * 1024


@dataclass
class Part:
    """A paragraph (`lines`) and, when `headers`, a table under it."""

    lines: list[str]
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    more: int = 0  # rows left out of report.md


def _s(value: Any) -> str:
    """Seconds as a person reads them: `12 ms` under a second, `3.35 s` above."""
    if not isinstance(value, int | float):
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _store(store: dict[str, Any], old: str) -> list[str]:
    lines = [f"Store: {store.get('described', '')}."]
    seed = store.get("seed")
    if isinstance(seed, dict):
        lines.append(f"Seeded in bulk into {old}'s own schema: {seed['total']:,} rows in "
                     f"{seed['seconds']}s ({seed['rows_per_s']:,} rows/s, indexes rebuilt in "
                     f"{seed['rebuild_seconds']}s), {store.get('bytes', 0) / MB:,.0f} MB; "
                     f"samples read back through {old}'s REST API match the rows.")
        upgraded = store.get("new_side_upgrade") or {}
        if upgraded:
            lines.append(f"The new side's copy was upgraded by {upgraded.get('version')}'s "
                         f"`mlflow db upgrade` in {_s(upgraded.get('seconds'))} before its "
                         "server started.")
    return lines


def _downtime(migration: dict[str, Any], start_s: float, new: str) -> list[str]:
    writer = migration.get("writer") or {}
    revisions = migration.get("revisions") or []
    inside = sum(r.get("seconds") or 0.0 for r in revisions)
    total = migration.get("seconds") or 0.0
    lines = [f"**Downtime to plan**: {new}'s `mlflow db upgrade` took **{_s(total)}** on "
             f"this store ({_s(migration.get('startup_seconds'))} starting, {_s(inside)} in "
             f"{len(revisions)} revisions, {_s(migration.get('exit_seconds'))} exiting); with "
             f"the servers stopped, plan ≈ {_s(total + start_s)} with the new server's start "
             f"({_s(start_s)})."]
    if revisions:
        slowest = max(revisions, key=lambda r: r.get("seconds") or 0.0)
        lines.append(f"The slowest revision, `{slowest.get('revision')}` "
                     f"({slowest.get('description')}), took {_s(slowest.get('seconds'))}.")
    longest = writer.get("longest") or {}
    if longest:
        failed = writer.get("failed") or 0
        lines.append(
            f"With writers kept running (metrics, params and tags, new runs, registry writes "
            f"on the old tables): writes were held up to **{_s(longest['seconds'])}** "
            f"({longest['kind']}, from revision `{longest['revision']}`; usually "
            f"{(writer.get('baseline_s') or 0.0) * 1000:.0f} ms), {failed} of "
            f"{writer.get('writes', 0)} failed"
            + (": " + "; ".join(code(e, 120) for e in writer.get("errors", [])) if failed
               else "") + ".")
    size = migration.get("database_bytes") or {}
    if size:
        lines.append(f"Database size: {size['before'] / MB:,.1f} MB before, peak "
                     f"{size['peak'] / MB:,.1f} MB, {size['after'] / MB:,.1f} MB after.")
    if migration.get("planted_slow_step"):
        revision, seconds = migration["planted_slow_step"]
        lines.append(f"(A slow step was planted in `{revision}`: it holds a lock on "
                     f"`metrics` for {seconds:g}s, `--inject-slow-migration`.)")
    return lines


def _revision_rows(revisions: list[dict[str, Any]], full: bool) -> tuple[list[list[str]], int]:
    shown = revisions if full else [
        r for r in revisions if (r.get("seconds") or 0.0) >= NOTABLE_S or r.get("held")
        or r.get("failed")]
    if not full:
        shown, _ = head(sorted(shown, key=lambda r: -(r.get("seconds") or 0.0)),
                        REVISIONS_SHOWN)
    rows = [[code(r.get("revision")), code(r.get("description"), 80), _s(r.get("seconds")),
             str(r.get("writes", "—")), _s(r.get("longest_wait_s")),
             ", ".join(r.get("held") or []) or "—", str(r.get("failed", "—"))] for r in shown]
    return rows, len(revisions) - len(shown)


def _searches(searches: list[dict[str, Any]]) -> Part:
    rows = [[code(s["operation"]), _s(s.get("old_median_s")), _s(s.get("new_median_s")),
             (f"{s['ratio']:.2f}× [{s['low']:.2f}, {s['high']:.2f}]"
              if s.get("low") is not None and s.get("ratio") is not None
              else f"{s.get('ratio') or 0:.2f}×"), str(s.get("verdict", "—"))]
            for s in searches]
    return Part(["Slowest searches and reads (server side, medians of the gate's rounds):"],
                ["operation", "old", "new", "new/old [95% interval]", "verdict"], rows)


def _memory(memory: dict[str, Any], versions: dict[str, str]) -> Part:
    rows = []
    for side, found in memory.items():
        label = f"{side} ({versions.get(side, '')})"
        if "unread" in found:
            rows.append([label, "—", "—", "—", found["unread"]])
            continue
        rows.append([label, str(found.get("workers")), f"{found.get('peak_worker_rss_mb')} MB",
                     f"{found.get('peak_total_rss_mb')} MB", f"{found.get('cpu_s')} s"])
    return Part(["Memory and CPU under the benchmark (read from /proc for each server's "
                 "process group):"],
                ["server", "workers", "peak RSS per worker", "all its processes at peak",
                 "CPU time"], rows)


def scale_parts(results: RunResults, full: bool = False) -> list[Part]:
    if results.scale is None:
        return []
    data = results.scale.data
    old, new = (results.sides[0].mlflow_version, results.sides[1].mlflow_version) \
        if len(results.sides) > 1 else ("old", "new")
    parts = [Part(_store(data.get("store") or {}, old))]
    migration = data.get("migration")
    if isinstance(migration, dict):
        start_s = results.sides[1].server_startup_s if len(results.sides) > 1 else 0.0
        rows, left = _revision_rows(migration.get("revisions") or [], full)
        parts.append(Part(_downtime(migration, start_s, new),
                          ["revision", "what it does", "time", "writes began", "longest wait",
                           "held", "failed"], rows, left))
    if data.get("searches"):
        parts.append(_searches(data["searches"]))
    if data.get("memory"):
        parts.append(_memory(data["memory"], {"old": old, "new": new}))
    return parts


def scale_section(results: RunResults) -> list[str]:
    parts = scale_parts(results)
    if not parts:
        return []
    lines = ["## At your scale", ""]
    for part in parts:
        lines += [" ".join(part.lines), ""]
        if part.headers and part.rows:
            lines += ["| " + " | ".join(part.headers) + " |",
                      "|" + "---|" * len(part.headers)]
            lines += ["| " + " | ".join(row) + " |" for row in part.rows]
            lines += more(part.more, "revisions (each quick, no write held)") + [""]
    return lines


def _inline(text: str) -> str:
    """Markdown's `code` and **bold** of a part's text, as HTML (escaped first)."""
    escaped = escape(text, quote=True)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", escaped)


def scale_html(results: RunResults, table: Callable[[list[str], list[list[str]], str], str]
               ) -> str:
    """The section in report.html (every revision), with html.py's `table`."""
    parts = scale_parts(results, full=True)
    if not parts:
        return ""
    html = ["<h2>At your scale</h2>"]
    for index, part in enumerate(parts):
        html.append("".join(f"<p>{_inline(line)}</p>" for line in part.lines))
        if part.headers and part.rows:
            html.append(table([escape(h) for h in part.headers],
                              [[_inline(cell) for cell in row] for row in part.rows],
                              f"scale-{index}"))
    return "".join(html)
