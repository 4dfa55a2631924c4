"""What each version does differently per operation (requests, SQL statements, the client's
own work: `harness/bench/explain.py`), as report.md shows it, bounded; report.html has every
operation's line. Results without these fields render nothing here."""

from __future__ import annotations

from harness.bench.records import Evidence, PartResult, ProbeNote
from harness.reports.bounds import first_line, head, more

SHOWN = 6  # operations per cause or part with their line in report.md
NAMED = 20  # unexplained operations named in one line
WIDTH = 400  # characters of one operation's line
UNEXPLAINED_CLIENT = ("nothing the client does differently (same requests, similar own work): "
                      "the server's or noise")
UNEXPLAINED_SERVER = ("the same requests and SQL statements where counted: the difference is "
                      "in the server's own work")


def probe_note(probe: ProbeNote | None) -> list[str]:
    """One line on the untimed pass that counted requests and SQL statements, or on why the
    statements were not counted; nothing for results without it."""
    if probe is None:
        return []
    text = (f"What differs per operation: requests per call from every timed call; SQL "
            f"statements from untimed calls per side ({probe.probed} operation(s), "
            f"{probe.seconds:.0f}s).")
    if probe.sql_unavailable:
        text = ("What differs per operation: requests per call from every timed call; SQL "
                f"statements not counted: {first_line(probe.sql_unavailable, 200)}.")
    if probe.not_probed:
        text += f" Not probed in the time allowed: {len(probe.not_probed)} operation(s)."
    return ["", text]


def cause_lines(evidence: Evidence) -> list[str]:
    """`- What differs:` and one sub-item per operation of a cause (at most SHOWN)."""
    items = list(evidence.what_differs.items())
    if not items:
        return []
    lines = ["- What differs:"]
    lines += [f"  - {label}: {first_line(text, WIDTH)}" for label, (_, text) in items[:SHOWN]]
    return lines + [f"  - {line}" for line in more(max(0, len(items) - SHOWN), "operations")]


def part_lines(part: PartResult) -> list[str]:
    """After a part's table, for the operations not slower beyond doubt (a regression's line
    is under its cause): each explained one's line (at most SHOWN), then the unexplained ones
    named in one line."""
    items = [op for op in part.operations if op.explanation and op.verdict != "regression"]
    if not items:
        return []
    side = part.name.replace("_", " ")
    explained = [op for op in items if op.explained]
    lines = ["", f"What differs ({side}, operations not slower beyond doubt):", ""]
    lines += [f"- {op.name} ({op.verdict}): {first_line(op.explanation, WIDTH)}"
              for op in explained[:SHOWN]]
    lines += more(max(0, len(explained) - SHOWN), "operations' differences")
    unexplained = [op.name for op in items if not op.explained]
    if unexplained:
        listed, left = head(unexplained, NAMED)
        why = UNEXPLAINED_CLIENT if part.name == "client_side" else UNEXPLAINED_SERVER
        lines.append(f"- {', '.join(listed)}{f' and {left} more' if left else ''}: {why}.")
    return lines
