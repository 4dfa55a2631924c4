"""One import package: a team's own `harness/`, `reports/` or `scenarios/` folder in the folder
it runs the harness from is never imported in its place.

The poisoned packages write a marker and exit with 99 when imported; the CLI re-renders a
recorded run from that folder and must exit with the run's own code, write its report, and
leave no marker.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import harness
from harness.resources import builtin_scenarios, client_module

RECORDED = (Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
            / "failing-deltaone.results.json.gz")
POISON = ("from pathlib import Path\n"
          "Path(__file__).resolve().parents[1].joinpath('IMPORTED-{name}').touch()\n"
          "raise SystemExit(99)\n")


def _team_folder(root: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        package = root / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(POISON.format(name=name))
        (package / "__main__.py").write_text(POISON.format(name=name))
    (root / "results.json").write_bytes(gzip.decompress(RECORDED.read_bytes()))
    return root


def _report(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, "report", "results.json", "--out", "out"], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _assert_rendered(proc: subprocess.CompletedProcess[str], cwd: Path) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the recorded run: not safe
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (cwd / "out" / "report.md").read_text().startswith("# MLflow upgrade check")
    assert sorted(p.name for p in cwd.glob("IMPORTED-*")) == []


def test_console_script_ignores_a_teams_harness_reports_and_scenarios(tmp_path: Path) -> None:
    beside = Path(sys.executable).parent / "mlflow-upgrade-harness"  # this interpreter's own
    script = str(beside) if beside.is_file() else shutil.which("mlflow-upgrade-harness")
    if script is None:
        pytest.fail("the console script mlflow-upgrade-harness is not installed (pip install .)")
    team = _team_folder(tmp_path / "team", ("harness", "reports", "scenarios"))
    _assert_rendered(_report([script], team), team)


def test_python_m_ignores_a_teams_reports_and_scenarios(tmp_path: Path) -> None:
    """`python -m harness` puts the current folder first on sys.path: only a folder named like
    the import package itself could shadow it, and `reports`/`scenarios` are not that."""
    team = _team_folder(tmp_path / "team", ("reports", "scenarios"))
    _assert_rendered(_report([sys.executable, "-m", "harness"], team), team)


def test_builtin_scenarios_and_clients_are_found_inside_the_package() -> None:
    package = Path(harness.__file__).resolve().parent
    assert builtin_scenarios().resolve() == package / "scenarios"
    assert (builtin_scenarios() / "conftest.py").is_file()
    assert client_module("bench").resolve() == package / "scenarios" / "clients" / "bench.py"
