"""The codebase's own rules: typed, linted, and MLflow never imported by the harness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "harness" / "scenarios" / "clients"


def test_harness_never_imports_mlflow() -> None:
    code = (
        "import pkgutil, importlib, sys, harness\n"
        "for m in pkgutil.walk_packages(harness.__path__, 'harness.'):\n"
        "    if m.name not in ('harness.agent.agent', 'harness.__main__') \\\n"
        "            and not m.name.startswith('harness.scenarios.clients.'):\n"
        "        importlib.import_module(m.name)\n"
        "import harness.cli, harness.plugin, harness.scenarios_runner\n"
        "bad = sorted(n for n in sys.modules if n == 'mlflow' or n.startswith('mlflow.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_only_client_code_imports_mlflow() -> None:
    offenders = []
    for path in ROOT.glob("harness/**/*.py"):
        if path.parent == ROOT / "harness" / "scenarios" / "clients":
            continue  # client code: it runs inside the MLflow environments
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import mlflow", "from mlflow")):
                offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert offenders == []


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff", "mypy"],
)
def test_static_checks_pass(command: list[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_wheel_ships_data_and_client_code(tmp_path: Path) -> None:
    """A non-editable install must carry what runs outside the harness process."""
    import shutil
    import zipfile

    # From a clean copy: setuptools' in-tree build/ folder keeps files that were since moved.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "__pycache__", ".*_cache", ".tox"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "harness/agent/agent.py", "harness/envs/known.toml", "harness/catalog/differences.toml",
        "harness/catalog/defects.toml", "harness/results/schema.json",
        "harness/scenario_pytest.ini", "harness/scenarios/conftest.py",
        "harness/reports/markdown.py", "harness/traffic/fault_site/sitecustomize.py",
        *(f"harness/scenarios/clients/{p.name}" for p in CLIENTS.glob("*.py")),
        *(f"harness/scenarios/{p.name}" for p in CLIENTS.parent.glob("test_*.py")),
    }
    assert expected <= names, sorted(expected - names)
    # One import package, named after the tool: nothing a team's folders could shadow.
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"harness"}
