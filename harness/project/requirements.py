"""A team's requirements with MLflow held at a side's version: their own `mlflow` pins are
set aside (the side decides the version), everything else is installed as written; what then
does not resolve is the team's dependency conflict with that version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

_MLFLOW = re.compile(r"^\s*(mlflow|mlflow-skinny)\s*(\[[^\]]*\])?\s*([<>=!~;@].*)?$",
                     re.IGNORECASE)


@dataclass(frozen=True)
class HeldRequirements:
    kept: tuple[str, ...]  # installed as written
    set_aside: tuple[str, ...]  # the team's MLflow pins: the side's version replaces them


def hold_mlflow(path: Path) -> HeldRequirements:
    """Read a requirements file (`-r` includes are followed, relative to it) and set aside
    the lines that pin MLflow itself."""
    kept: list[str] = []
    aside: list[str] = []
    _read(path, kept, aside, seen=set())
    return HeldRequirements(tuple(kept), tuple(aside))


def _read(path: Path, kept: list[str], aside: list[str], seen: set[Path]) -> None:
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    try:
        text = resolved.read_text()
    except OSError as error:
        raise UsageError(f"--project-requirements {path}: {error.strerror}") from None
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            _read(resolved.parent / line.split(None, 1)[1], kept, aside, seen)
        elif _MLFLOW.match(line):
            aside.append(line)
        else:
            kept.append(line)


def write_held(held: HeldRequirements, path: Path) -> Path:
    """The kept lines as a requirements file for uv (`-r path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in held.kept))
    return path
