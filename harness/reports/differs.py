"""What each version does differently per operation (requests, SQL statements, the client's
own work: `harness/bench/explain.py`), as report.md shows it, bounded; report.html has every
operation's line. Results without these fields render nothing here."""

from __future__ import annotations

from typing import Any

from harness.reports.bounds import first_line, head, more

SHOWN = 6  # operations per cause or part with their line in report.md
NAMED = 20  # unexplained operations named in one line
WIDTH = 400  # characters of one operation's line
UNEXPLAINED_CLIENT = ("nothing the client does differently (same requests, similar own work): "
                      "the server's or noise")
UNEXPLAINED_SERVER = ("the same requests and SQL statements where counted: the difference is "
                      "in the server's own work")


def probe_note(bench: dict[str, Any]) -> list[str]:
    """One line on the untimed pass that counted requests and SQL statements, or on why the
    statements were not counted; nothing for results without it."""
    probe = bench.get("probe")
    if not isinstance(probe, dict) or not (probe.get("probed") or probe.get("sql_unavailable")):
        return []
    text = (f"What differs per operation: requests per call from every timed call; SQL "
            f"statements from untimed calls per side ({probe.get('probed', 0)} operation(s), "
            f"{probe.get('seconds', 0):.0f}s).")
    if probe.get("sql_unavailable"):
        text = ("What differs per operation: requests per call from every timed call; SQL "
                f"statements not counted: {first_line(probe['sql_unavailable'], 200)}.")
    left = probe.get("not_probed") or []
    if left:
        text += f" Not probed in the time allowed: {len(left)} operation(s)."
    return ["", text]


def cause_lines(evidence: dict[str, Any]) -> list[str]:
    """`- What differs:` and one sub-item per operation of a cause (at most SHOWN)."""
    found = evidence.get("what_differs") or {}
    if not isinstance(found, dict) or not found:
        return []
    items = list(found.items())
    lines = ["- What differs:"]
    lines += [f"  - {label}: {_line(entry)}" for label, entry in items[:SHOWN]]
    return lines + [f"  - {line}" for line in more(max(0, len(items) - SHOWN), "operations")]


def part_lines(part: dict[str, Any], side: str) -> list[str]:
    """After a part's table, for the operations not slower beyond doubt (a regression's line
    is under its cause): each explained one's line (at most SHOWN), then the unexplained ones
    named in one line."""
    items = [(op, item) for op, item in (part.get("operations") or {}).items()
             if item.get("explanation") and item.get("verdict") != "regression"]
    if not items:
        return []
    explained = [(op, item) for op, item in items if item.get("explained")]
    lines = ["", f"What differs ({side}, operations not slower beyond doubt):", ""]
    lines += [f"- {op} ({item.get('verdict')}): {_line(item)}"
              for op, item in explained[:SHOWN]]
    lines += more(max(0, len(explained) - SHOWN), "operations' differences")
    unexplained = [op for op, item in items if not item.get("explained")]
    if unexplained:
        listed, left = head(unexplained, NAMED)
        why = (UNEXPLAINED_CLIENT if side.startswith("client") else UNEXPLAINED_SERVER)
        lines.append(f"- {', '.join(listed)}{f' and {left} more' if left else ''}: {why}.")
    return lines


def _line(entry: dict[str, Any]) -> str:
    return first_line(entry.get("explanation", ""), WIDTH)
