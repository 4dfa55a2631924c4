"""What the console says about a check that did not pass: one labelled line, in the verdict's
terms (blocking failure, advisory cell, known defect). Tracebacks, logs and the failing call
stay in the reports."""

from __future__ import annotations

from harness.matrix import is_advisory
from harness.results.model import CheckResult, Status

WIDTH = 160


def label(check: CheckResult) -> str:
    """`known defect ID`, `advisory`, `FAILED` or `ERROR`: how the verdict counts the check."""
    if check.status is Status.KNOWN_DEFECT:
        return f"known defect {check.defect.get('id', '')}".strip()
    if is_advisory(check):
        return "advisory (client newer than server, not blocking)"
    return "ERROR" if check.status is Status.ERROR else "FAILED"


def one_line(check: CheckResult) -> str | None:
    """The check's console line, or None for a check that passed or was skipped."""
    if check.status in (Status.PASSED, Status.SKIPPED):
        return None
    first = (check.message or check.failing_call or "").strip().splitlines()
    reason = first[0] if first else ""
    if len(reason) > WIDTH:
        reason = reason[:WIDTH - 1] + "…"
    where = check.case or check.test
    return f"  {label(check)}: {where} [{check.side}]" + (f": {reason}" if reason else "")
