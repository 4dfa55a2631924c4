"""A team's own scenarios (`--scenarios DIR`): folders checked once, at the edge, and the
client folder a scenario module calls into.

A team's scenario folder holds `test_*.py` modules that use the harness's fixtures, and a
`clients/` folder beside them with the MLflow code they call (run inside each MLflow
environment). Scenario names (the module name without `test_`) and client module names must
not clash with each other or with the built-in ones that run alongside: a clash is refused
with one line, since results are keyed by scenario name and client modules by file name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.errors import UsageError
from harness.resources import builtin_scenarios

BUILTIN_SCENARIOS = builtin_scenarios()
CLIENTS = "clients"


def clients_dir(test_file: Path, named: str | Path | None = None) -> Path:
    """The client folder for a scenario module: the one it names (`CLIENTS_DIR = "…"` in the
    module, relative to it), else `clients/` beside it, else the built-in one."""
    if named is not None:
        return (test_file.parent / named).resolve()
    beside = test_file.parent / CLIENTS
    return beside if beside.is_dir() else BUILTIN_SCENARIOS / CLIENTS


def scenario_names(folder: Path) -> list[str]:
    return sorted(p.stem.removeprefix("test_") for p in folder.glob("test_*.py"))


def client_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in (folder / CLIENTS).glob("*.py"))


def _clashes(owners: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, owner in owners:
        seen.setdefault(name, []).append(owner)
    return {name: where for name, where in seen.items() if len(where) > 1}


def check_scenario_dirs(raw: Sequence[str], builtin: bool) -> tuple[Path, ...]:
    """The team's scenario folders, resolved; refuses a missing folder, one without
    `test_*.py` modules, the same folder twice, and clashing scenario or client names."""
    if not raw and not builtin:
        raise UsageError("--no-builtin needs --scenarios DIR: there would be nothing to run")
    folders: list[Path] = []
    for item in raw:
        folder = Path(item).expanduser().resolve()
        if not folder.is_dir():
            raise UsageError(f"--scenarios {item}: no such folder")
        if not scenario_names(folder):
            raise UsageError(f"--scenarios {item}: no test_*.py scenario modules in it")
        if folder in folders or (builtin and folder == BUILTIN_SCENARIOS):
            raise UsageError(f"--scenarios {item}: given twice (built-in scenarios run unless "
                             "--no-builtin)")
        folders.append(folder)
    everyone = ([BUILTIN_SCENARIOS] if builtin else []) + folders
    label = {f: "built-in" if f == BUILTIN_SCENARIOS else str(f) for f in everyone}
    for kind, names in (("scenario", scenario_names), ("client module", client_names)):
        clashes = _clashes((name, label[f]) for f in everyone for name in names(f)
                           if name != "__init__")
        if clashes:
            name, where = sorted(clashes.items())[0]
            raise UsageError(f"{kind} name {name!r} is in {' and '.join(where)}: rename one "
                             f"({len(clashes)} clash(es))")
    return tuple(folders)
