"""Per-test outcomes of a pytest run, read from its JUnit XML (xunit1: each case names its
file), and the MLflow call a failure came from (read from its short traceback)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
_REFUSED = re.compile(r"TypeError: ([\w.]+)\(\) got an unexpected keyword argument")
_FRAME = re.compile(r"^(?P<file>\S+?\.py):(?P<line>\d+): in (?P<function>\S+)$")


@dataclass(frozen=True)
class Outcome:
    test: str  # pytest node id: tests/test_x.py::TestK::test_y[param]
    outcome: str
    message: str = ""
    text: str = ""  # the failure's short traceback
    seconds: float = 0.0


def node_id(case: ET.Element) -> str:
    """The pytest node id of a JUnit test case (classname `tests.test_x.TestK`, file
    `tests/test_x.py`); a collection error's case is named by its module."""
    file = case.get("file") or ""
    name = case.get("name") or ""
    classname = case.get("classname") or ""
    if not file:
        return f"{classname}::{name}" if classname else name
    if not classname:  # a module that could not be collected (import error)
        return file
    module = file.removesuffix(".py").replace("/", ".").replace("\\", ".")
    inner = classname.removeprefix(module).strip(".")
    return "::".join(part for part in (file, inner, name) if part)


def read_junit(path: Path) -> dict[str, Outcome]:
    """Every test case of the report by node id; a missing or unreadable report gives none."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    found: dict[str, Outcome] = {}
    for case in root.iter("testcase"):
        outcome, message, text = PASSED, "", ""
        for kind in (FAILED, ERROR, SKIPPED):
            child = case.find("failure" if kind == FAILED else kind)
            if child is not None:
                outcome = kind
                message = child.get("message") or ""
                text = child.text or ""
                break
        test = node_id(case)
        if test in found and found[test].outcome != PASSED:
            continue  # a teardown error after a failure: keep the failure
        found[test] = Outcome(test, outcome, message.strip(), text,
                              float(case.get("time") or 0.0))
    return found


def mlflow_call(text: str) -> str | None:
    """`file:line: code` of the team's frame that called into MLflow, from a `--tb=short`
    traceback; None when the failure did not pass through MLflow."""
    lines = text.splitlines()
    frames: list[tuple[str, str, str]] = []
    for index, line in enumerate(lines):
        found = _FRAME.match(line.strip())
        if found:
            code = lines[index + 1].strip() if index + 1 < len(lines) else ""
            frames.append((found.group("file"), found.group("line"), code))
    for index, (file, _, _) in enumerate(frames):
        if "/mlflow/" in file.replace("\\", "/") and index > 0:
            caller, line, code = frames[index - 1]
            return f"{caller}:{line}: {code}"
    # A call Python refused before entering MLflow (a removed or renamed parameter): the
    # last frame made it, if its line calls something the error names.
    refused = _REFUSED.search(text)
    callee = [p for p in refused.group(1).split(".") if p != "__init__"][-1:] if refused else []
    if callee and frames and callee[0] in frames[-1][2]:
        file, line, code = frames[-1]
        return f"{file}:{line}: {code}"
    return None
