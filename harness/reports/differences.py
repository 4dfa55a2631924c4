"""The "Old vs new" section of report.md, bounded: the undocumented differences row by row (up
to a limit), the documented ones one row per catalog entry, findings one line per kind.
Every difference, row by row, is in report.html."""

from __future__ import annotations

from harness.reports.bounds import HTML, code, first_line, head, more
from harness.results.model import DiffEntry, RunResults

UNEXPECTED_ROWS = 12
EXPECTED_ROWS = 20
FINDING_KINDS = 8
EXAMPLES = 2  # fields named per catalog entry or finding kind
VALUE = 60  # characters of an old or new value
WHY = 140  # characters of a catalog summary


def _code(value: object, width: int = VALUE) -> str:
    return code(value, width)


def _groups(entries: list[DiffEntry]) -> dict[str, list[DiffEntry]]:
    groups: dict[str, list[DiffEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.catalog_id, []).append(entry)
    return groups


def _fields(entries: list[DiffEntry]) -> str:
    paths = list(dict.fromkeys(e.path for e in entries))
    shown, left = head(paths, EXAMPLES)
    return ", ".join(_code(p) for p in shown) + (f" and {left} more" if left else "")


def _unexpected(entries: list[DiffEntry]) -> list[str]:
    lines = [f"**{len(entries)} unexpected difference(s)** — not documented in the catalog; "
             "they fail the run:", "", "| Test | Field | Old | New |", "|---|---|---|---|"]
    shown, left = head(sorted(entries, key=lambda e: (e.test, e.path)), UNEXPECTED_ROWS)
    lines += [f"| {first_line(e.test, 80)} | {_code(e.path, 80)} | {_code(e.old)} | "
              f"{_code(e.new)} |" for e in shown]
    return lines + [""] + more(left, "unexpected differences") + ([""] if left else [])


def _expected(entries: list[DiffEntry]) -> list[str]:
    groups = _groups(entries)
    lines = [f"{len(entries)} expected difference(s) in {len(groups)} documented change(s):",
             "", "| Change | Fields | Example | Why |", "|---|---|---|---|"]
    shown, left = head(sorted(groups.items()), EXPECTED_ROWS)
    for catalog_id, group in shown:
        source = (group[0].source.split() or [""])[0]
        name = f"[{catalog_id}]({source})" if source else catalog_id
        lines.append(f"| {name} | {len(group)}: {_fields(group)} | {_code(group[0].old, 40)} → "
                     f"{_code(group[0].new, 40)} | {first_line(group[0].summary, WHY)} |")
    return lines + [""] + more(left, "documented changes") + ([""] if left else [])


def _findings(entries: list[DiffEntry]) -> list[str]:
    groups = _groups(entries)
    lines = [f"**{len(entries)} finding(s)** — true and worth acting on, not failures by "
             "themselves:", ""]
    shown, left = head(sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])), FINDING_KINDS)
    lines += [f"- **{kind}** ({len(group)}): {first_line(group[0].summary, WHY)} "
              f"({_fields(group)})" for kind, group in shown]
    return lines + [""] + more(left, "kinds of findings") + ([""] if left else [])


def differences_section(results: RunResults) -> list[str]:
    lines = ["## Old vs new", ""]
    if not results.diff:
        return lines + ["No differences in normalized observations.", ""]
    unexpected = results.unexpected_differences()
    expected = [d for d in results.diff if d.classification == "expected"]
    findings = results.findings()
    if unexpected:
        lines += _unexpected(unexpected)
    if expected:
        lines += _expected(expected)
    if findings:
        lines += _findings(findings)
    return lines + [f"Every difference, field by field: {HTML}.", ""]
