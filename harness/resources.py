"""Where the harness's own files are once installed: read through `importlib.resources` from
the `harness` import package, never from paths relative to a source tree."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_dir(package: str) -> Path:
    """The folder of one of the harness's packages (e.g. `harness.scenarios`) on disk. The
    scenarios run under pytest and the client modules in other interpreters, so they must be
    real files: an installation in a zip archive is refused."""
    found = resources.files(package)
    if not isinstance(found, Path):
        raise RuntimeError(f"{package} is not installed as files on disk ({found!r})")
    return found


def builtin_scenarios() -> Path:
    return package_dir("harness.scenarios")


def client_module(name: str) -> Path:
    """A built-in client module (`scenarios/clients/<name>.py`), run in an MLflow environment."""
    return package_dir("harness.scenarios") / "clients" / f"{name}.py"
