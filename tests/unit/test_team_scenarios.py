"""A team's scenarios: folders checked at the edge (one line, exit 2), clients beside them,
collected with the built-in ones (or alone), the team's catalog, and plain pytest without -p."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.catalog import classify
from harness.cli import main
from harness.config import build_config
from harness.errors import UsageError
from harness.plugin import CLIENTS_DIR
from harness.scenarios_runner import pytest_args
from harness.team import BUILTIN_SCENARIOS, check_scenario_dirs, clients_dir

SCENARIO = '''
import pytest

pytestmark = pytest.mark.matrix


def test_registry_roundtrip(side, mlflow_client, observe, run_prefix):
    observe(mlflow_client.call("team_registry:roundtrip", name=f"{run_prefix}-{side}"))
'''


def team_folder(root: Path, scenario: str = "team_registry", client: str = "team_registry") -> Path:
    (root / "clients").mkdir(parents=True)
    (root / f"test_{scenario}.py").write_text(textwrap.dedent(SCENARIO))
    (root / "clients" / f"{client}.py").write_text("def roundtrip(tracking_uri, name):\n"
                                                  "    return {'name': name}\n")
    return root


def test_clients_beside_the_scenario_else_the_builtin_ones(tmp_path: Path) -> None:
    team = team_folder(tmp_path / "team")
    assert clients_dir(team / "test_team_registry.py") == team / "clients"
    assert clients_dir(BUILTIN_SCENARIOS / "test_tracking.py") == CLIENTS_DIR
    assert clients_dir(tmp_path / "test_alone.py") == CLIENTS_DIR
    assert clients_dir(team / "test_team_registry.py", "../shared") == (tmp_path / "shared")


@pytest.mark.parametrize(
    ("make", "builtin", "expected"),
    [
        (lambda root: root / "missing", True, "no such folder"),
        (lambda root: root, True, "no test_*.py scenario modules"),
        (lambda root: team_folder(root / "t", scenario="tracking"), True,
         "scenario name 'tracking' is in built-in and"),
        (lambda root: team_folder(root / "t", client="_common"), True,
         "client module name '_common' is in built-in and"),
        (lambda root: BUILTIN_SCENARIOS, True, "given twice"),
    ],
)
def test_bad_scenario_folders_are_refused(tmp_path: Path, make: object, builtin: bool,
                                          expected: str) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(UsageError, match=expected.replace("*", r"\*")):
        check_scenario_dirs([str(folder)], builtin)


def test_two_team_folders_may_not_share_a_scenario_name(tmp_path: Path) -> None:
    first, second = team_folder(tmp_path / "a"), team_folder(tmp_path / "b", client="other")
    with pytest.raises(UsageError, match="scenario name 'team_registry'"):
        check_scenario_dirs([str(first), str(second)], builtin=False)
    assert check_scenario_dirs([str(first)], builtin=True) == (first.resolve(),)
    # a team folder may reuse a built-in name when the built-ins do not run
    tracking = team_folder(tmp_path / "c", scenario="tracking")
    assert check_scenario_dirs([str(tracking)], builtin=False) == (tracking.resolve(),)


def test_the_example_team_projects_scenarios_are_accepted() -> None:
    folder = Path(__file__).resolve().parents[2] / "examples" / "team-project" / "scenarios"
    assert check_scenario_dirs([str(folder)], builtin=True) == (folder,)
    assert clients_dir(folder / "test_team_registry.py") == folder / "clients"


def test_no_builtin_needs_scenarios_one_line_exit_2(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    code = main(["run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(tmp_path / "o"),
                 "--no-builtin"])
    err = capsys.readouterr().err
    assert code == 2 and "--no-builtin needs --scenarios" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_team_and_builtin_scenarios_are_collected_together(tmp_path: Path) -> None:
    team = team_folder(tmp_path / "team")
    both = build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path / "o"),
                        scenarios=[str(team)])
    alone = build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path / "o"),
                         scenarios=[str(team)], no_builtin=True)
    args = pytest_args(both)
    assert args[:2] == [str(BUILTIN_SCENARIOS), str(team.resolve())]
    assert args[args.index("--rootdir") + 1] == str(BUILTIN_SCENARIOS)
    args = pytest_args(alone)
    assert args[0] == str(team.resolve()) and str(BUILTIN_SCENARIOS) not in args
    assert args[args.index("--rootdir") + 1] == str(team.resolve())
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", *args[1:],
                           str(team.resolve())], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert ids == [f"test_team_registry.py::test_registry_roundtrip[{side}]"
                   for side in ("from", "to", "from_on_to", "to_on_from")], proc.stdout


def test_the_plugin_is_a_pytest11_entry_point_named_as_the_module() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"harness.plugin": "harness.plugin"}


def _entry_point_installed() -> bool:
    from importlib.metadata import entry_points

    return any(e.name == "harness.plugin" for e in entry_points(group="pytest11"))


@pytest.mark.skipif(not _entry_point_installed(),
                    reason="the installed harness predates its pytest11 entry point: "
                           "pip install -e .")
def test_plain_pytest_in_a_team_folder_needs_no_p(tmp_path: Path) -> None:
    """The pytest11 entry point loads the plugin: without --mlflow-from/--mlflow-to the
    scenarios are collected for every cell and skipped with the reason."""
    team = team_folder(tmp_path / "team")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, cwd=team, timeout=120)
    assert "4 skipped" in proc.stdout, proc.stdout + proc.stderr
    assert "scenarios need --mlflow-from and --mlflow-to" in proc.stdout


def test_team_catalog_documents_differences_and_defects(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(textwrap.dedent('''
        [[difference]]
        id = "team-registry-tag"
        scenario = "team_registry"
        path = "name"
        landed_between = ["2.22.5", "3.0.0"]
        summary = "our wrapper names models differently on 3.x"
        source = "https://example.invalid/wiki/upgrade"

        [[defect]]
        id = "team-flaky-registry"
        test = "test_team_registry.py::*"
        affected = "==3.4.0"
        summary = "known"
        source = "https://example.invalid/issue/1"
    '''))
    assert classify.check_team_catalog(catalog) == catalog
    try:
        classify.use_team_catalog(catalog.read_text())
        entry = classify.explain("team_registry", "name", "a", "b", "2.9.2", "3.4.0")
        assert entry is not None and entry.id == "team-registry-tag"
        defect = classify.known_defect("test_team_registry.py::test_x[from]", "3.4.0")
        assert defect is not None and defect.id == "team-flaky-registry"
    finally:
        classify.use_team_catalog(None)
    assert classify.explain("team_registry", "name", "a", "b", "2.9.2", "3.4.0") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("[[difference]\n", "is not TOML"),
    ("[[difference]]\nid = 'x'\n", "an entry lacks 'landed_between'"),
    ("[[defect]]\nid='d'\ntest='t'\naffected='=>3'\nsummary='s'\nsource='u'\n", "--catalog"),
])
def test_bad_team_catalog_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(text)
    with pytest.raises(UsageError, match=expected) as error:
        classify.check_team_catalog(catalog)
    assert len(str(error.value).splitlines()) == 1


def test_a_scenario_module_may_name_its_client_folder(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from harness.plugin import _clients

    module = SimpleNamespace(CLIENTS_DIR="../mlflow_clients")
    node = SimpleNamespace(module=module, path=tmp_path / "scenarios" / "test_x.py")
    assert _clients(SimpleNamespace(node=node)) == tmp_path / "mlflow_clients"  # type: ignore[arg-type]
    node = SimpleNamespace(module=SimpleNamespace(), path=BUILTIN_SCENARIOS / "test_tracking.py")
    assert _clients(SimpleNamespace(node=node)) == CLIENTS_DIR  # type: ignore[arg-type]
