"""Per-test outcomes of a pytest run, read from its JUnit XML (xunit1: each case names its
file), and what a failure's short traceback tells: the MLflow call it came from, the innermost
frame in the team's own code, the error line (`E   ModuleNotFoundError: …`)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
_REFUSED = re.compile(r"TypeError: ([\w.]+)\(\) got an unexpected keyword argument")
_FRAME = re.compile(r"^(?P<file>\S+?\.py):(?P<line>\d+): in (?P<function>\S+)$")
_CONFTEST = re.compile(r"ImportError while loading conftest '(?P<path>[^']+)'")


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


def frames(text: str) -> list[tuple[str, str, str]]:
    """(file, line, code) of each frame of a `--tb=short` traceback, outermost first."""
    lines = text.splitlines()
    found: list[tuple[str, str, str]] = []
    for index, line in enumerate(lines):
        match = _FRAME.match(line.strip())
        if match:
            code = lines[index + 1].strip() if index + 1 < len(lines) else ""
            found.append((match.group("file"), match.group("line"), code))
    return found


def mlflow_call(text: str) -> str | None:
    """`file:line: code` of the team's frame that called into MLflow, from a `--tb=short`
    traceback; None when the failure did not pass through MLflow."""
    found = frames(text)
    for index, (file, _, _) in enumerate(found):
        if "/mlflow/" in file.replace("\\", "/") and index > 0:
            caller, line, code = found[index - 1]
            return f"{caller}:{line}: {code}"
    # A call Python refused before entering MLflow (a removed or renamed parameter): the
    # last frame made it, if its line calls something the error names.
    refused = _REFUSED.search(text)
    callee = [p for p in refused.group(1).split(".") if p != "__init__"][-1:] if refused else []
    if callee and found and callee[0] in found[-1][2]:
        file, line, code = found[-1]
        return f"{file}:{line}: {code}"
    return None


def _team_file(file: str, root: Path | None) -> bool:
    """A frame in the team's code: a path pytest shows relative to the project (or one under
    `root`), not an installed package's, not a frozen or generated module's."""
    if file.startswith("<") or "site-packages" in file or "dist-packages" in file:
        return False
    if not Path(file).is_absolute():
        return True
    return root is not None and Path(file).is_relative_to(root)


def team_frame(text: str, root: Path | None = None) -> str | None:
    """`file:line: code` of the innermost frame in the team's own code: where a failure
    surfaced in it (an import of a module that is gone, a value that changed shape)."""
    for file, line, code in reversed(frames(text)):
        if _team_file(file, root):
            shown = str(Path(file).relative_to(root)) if root and Path(file).is_absolute() \
                else file
            return f"{shown}:{line}: {code}"
    return None


def error_line(text: str) -> str:
    """The exception a short traceback ends with (`E   ModuleNotFoundError: …`), first line."""
    errors = [line.strip()[1:].strip() for line in text.splitlines()
              if line.startswith("E ") and line[1:].strip()]
    names = [e for e in errors if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", e)]
    return (names or errors or [""])[-1]


def conftest_of(text: str, root: Path | None = None) -> str | None:
    """The conftest.py pytest could not load before collecting anything (its run wrote no
    report), relative to `root` when under it."""
    found = _CONFTEST.search(text)
    if not found:
        return None
    path = Path(found.group("path"))
    return str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
