"""The "Your code" section of report.md, first after the verdict: the breaking-change scan's
findings by file (bounded; scan.json and results.json keep them all)."""

from __future__ import annotations

from typing import Any

from harness.results.model import RunResults
from reports.bounds import first_line, head

FILES = 15
PER_FILE = 12
WHAT = 220  # characters of what changed


def _line(finding: dict[str, Any]) -> str:
    also = finding.get("also_at") or []
    more = f" (also lines {', '.join(map(str, also[:5]))}{'…' if len(also) > 5 else ''})" \
        if also else ""
    doc = f" — [{finding['catalog']}]({finding['source']})" if finding.get("catalog") and \
        finding.get("source", "").startswith("http") else (
        f" — {finding['catalog']}" if finding.get("catalog") else "")
    return (f"- line {finding['line']}{more}: `{finding['api']}` — "
            f"{first_line(finding['what'], WHAT)}{doc}")


def your_code_section(results: RunResults) -> list[str]:
    scan = results.scan
    if not scan:
        return []
    findings: list[dict[str, Any]] = scan.get("findings", [])
    lines = ["## Your code", "",
             f"Breaking-change scan of {', '.join(f'`{p}`' for p in scan.get('paths', []))} "
             f"({scan.get('files_scanned', 0)} files with {scan.get('uses', 0)} MLflow uses), "
             f"{scan.get('from', '?')} → {scan.get('to', '?')}: "
             f"{len(findings)} finding(s).", ""]
    by_file: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        by_file.setdefault(finding["file"], []).append(finding)
    files, hidden_files = head(sorted(by_file), FILES)
    for file in files:
        shown, hidden = head(by_file[file], PER_FILE)
        lines += [f"**`{file}`**", ""] + [_line(f) for f in shown]
        lines += [f"- … and {hidden} more in results.json (`scan`)"] if hidden else []
        lines.append("")
    if hidden_files:
        lines += [f"… and {hidden_files} more files in results.json (`scan`).", ""]
    return lines
