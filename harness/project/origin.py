"""Where the value came from: for a failure that surfaced in the team's own code (no MLflow
frame on the traceback: `AttributeError: 'RunInfo' object has no attribute 'run_uuid'`,
`IndexError` splitting a model version's `source`), the MLflow call that produced the value
the failing line used, read statically from the team's source as the scan reads it
(`harness/scan/uses.py`: values followed from the MLflow call that made them)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.scan.bindings import ITEM
from harness.scan.uses import Use, python_uses

_FRAME = re.compile(r"^(?P<file>.+?\.py):(?P<line>\d+): ")
_MISSING = re.compile(r"has no attribute '(?P<name>\w+)'")
_ITEM_ERRORS = ("IndexError", "KeyError", "not subscriptable")


def _pick(reads: list[Use], message: str) -> Use:
    """The read the error is about: the attribute it names, an item for an index error."""
    missing = _MISSING.search(message)
    if missing:
        named = [u for u in reads if missing.group("name") in u.steps]
        if named:
            return named[0]
    if any(error in message for error in _ITEM_ERRORS):
        indexed = [u for u in reads if ITEM in u.steps]
        if indexed:
            return indexed[0]
    return reads[0]


def value_origin(root: Path, frame: str, message: str) -> str | None:
    """`api (file:line: code)` of the MLflow call that made the value read at `frame`
    (`file:line: code`, the file relative to `root`); None when the line reads no value the
    scan can trace to a call."""
    found = _FRAME.match(frame)
    if not found:
        return None
    file, line = found.group("file"), int(found.group("line"))
    try:
        source = (root / file).read_text(errors="replace")
    except OSError:
        return None
    reads = [u for u in python_uses(source, file)
             if u.kind == "read" and u.line == line and u.origin and u.origin_api]
    if not reads:
        return None
    use = _pick(reads, message)
    lines = source.splitlines()
    code = lines[use.origin - 1].strip() if use.origin <= len(lines) else ""
    return f"{use.origin_api} ({file}:{use.origin}: {code})"
