"""The config file (`[tool.mlflow-upgrade-harness]` or `--config FILE`), its precedence
(command line > file > default), its errors (one line naming the key and the file, exit 2),
the pytest plugin's options and the README's option table: all derived from one table."""

from __future__ import annotations

import argparse
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from harness.cli import main, run_config
from harness.config.options import OPTIONS, Kind, for_command
from harness.config.pytest_options import PREFIX, add_plugin_options, plugin_flag
from harness.config.pytest_options import run_config as plugin_run_config
from harness.config.table import END, START, render

README = Path(__file__).resolve().parents[2] / "README.md"
DETECTOR = Path(__file__).resolve().parents[1] / "fixtures" / "deltaone_wrong_detector.py"


def _repo(tmp_path: Path, table: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "pyproject.toml").write_text(dedent(table))
    return repo


PYPROJECT = """\
    [project]
    name = "team"

    [tool.mlflow-upgrade-harness]
    out = "reports/upgrade"
    bench-budget = 300
    regression-threshold = "25%"
    no-matrix = true
    scan = ["src"]

    [tool.mlflow-upgrade-harness.from]
    mlflow = "2.9.2"
    server-arg = ["--workers 2"]

    [tool.mlflow-upgrade-harness.to]
    mlflow = "3.4.0"
    """


def test_pyproject_table_is_found_from_a_subfolder_and_the_command_line_wins(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path, PYPROJECT)
    (repo / "src").mkdir()
    config = run_config(["run", "--bench-budget", "200"], cwd=repo / "sub")
    assert (config.from_side.spec.raw, config.to_side.spec.raw) == ("2.9.2", "3.4.0")
    assert config.bench.budget_s == 200.0  # the command line over the file's 300
    assert config.bench.threshold == pytest.approx(0.25)  # the file's
    assert config.matrix.enabled is False
    assert config.out_dir == (repo / "reports" / "upgrade").resolve()  # relative to the file
    assert config.scan.paths == ((repo / "src").resolve(),)
    assert config.from_side.server_args == ("--workers", "2")
    assert config.scenarios.timeout_s == 900.0  # neither: the default
    overridden = run_config(["run", "--to", "3.17.2", "--from-server-arg", "--workers 3"],
                            cwd=repo)
    assert overridden.to_side.spec.raw == "3.17.2"
    assert overridden.from_side.server_args == ("--workers", "3")  # a list is replaced


def test_config_option_reads_a_file_of_its_own_and_wins_over_the_pyproject(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path, PYPROJECT)
    own = tmp_path / "ci" / "harness.toml"
    own.parent.mkdir()
    own.write_text(dedent(f"""\
        no-bench = true
        deltaone-detector = "../{DETECTOR.name}"
        [from]
        mlflow = "3.4.0"
        [to]
        mlflow = "3.17.2"
        """))
    (tmp_path / DETECTOR.name).write_text(DETECTOR.read_text())
    config = run_config(["run", "--config", str(own)], cwd=repo)
    assert (config.from_side.spec.raw, config.to_side.spec.raw) == ("3.4.0", "3.17.2")
    assert config.bench.enabled is False and config.bench.budget_s == 180.0  # not the pyproject
    # An option the built-in scenarios declare, from the file, relative to it, handed to pytest.
    assert config.scenarios.pytest_args == (
        f"--deltaone-detector={(tmp_path / DETECTOR.name).resolve()}:detect",)


def test_no_file_means_defaults(tmp_path: Path) -> None:
    config = run_config(["run", "--from", "2.9.2", "--to", "3.4.0"], cwd=tmp_path)
    assert config.bench.budget_s == 180.0 and config.matrix.enabled
    assert config.out_dir == (Path.cwd() / "upgrade-report").resolve()


@pytest.mark.parametrize(("table", "expected"), [
    ("[tool.mlflow-upgrade-harness]\nbench-budgt = 300\n",
     "unknown key 'bench-budgt' in [tool.mlflow-upgrade-harness] (did you mean 'bench-budget'?)"),
    ("[tool.mlflow-upgrade-harness]\nbench-budget = \"fast\"\n",
     "bench-budget = 'fast' in [tool.mlflow-upgrade-harness]: expected a number, not str 'fast'"),
    ("[tool.mlflow-upgrade-harness]\nno-bench = \"yes\"\n",
     "no-bench = 'yes' in [tool.mlflow-upgrade-harness]: expected true or false"),
    ("[tool.mlflow-upgrade-harness]\nscan = [1, 2]\n",
     "scan = [1, 2] in [tool.mlflow-upgrade-harness]: expected a list of text"),
    ("[tool.mlflow-upgrade-harness.to]\nimage = 3\n",
     "image = 3 in [tool.mlflow-upgrade-harness.to]: expected text"),
    ("[tool.mlflow-upgrade-harness.to]\nbench-budget = 3\n",
     "unknown key 'bench-budget' in [tool.mlflow-upgrade-harness.to]"),
    ("[tool.mlflow-upgrade-harness]\nfrom = \"2.9.2\"\n",
     "from must be a table, [tool.mlflow-upgrade-harness.from]"),
    ("[tool.mlflow-upgrade-harness]\npostgres-dsn = \"postgresql://u:p@h/d\"\n",
     "postgres-dsn in [tool.mlflow-upgrade-harness] cannot be set in a config file; give "
     "--postgres-dsn on the command line"),
    ("[tool.mlflow-upgrade-harness]\nprovider = \"cloud\"\n",
     "provider = 'cloud' in [tool.mlflow-upgrade-harness]: expected one of auto, local"),
    ("[tool.mlflow-upgrade-harness]\ndeltaone-detector = \"missing.py\"\n",
     "--deltaone-detector: no such file"),
    ("[tool.mlflow-upgrade-harness\n", "not valid TOML"),
])
def test_a_bad_file_is_one_line_naming_the_key_and_the_file_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        table: str, expected: str) -> None:
    repo = _repo(tmp_path, table)
    monkeypatch.chdir(repo)
    code = main(["run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(repo / "pyproject.toml") in err and expected in err, err
    assert not (tmp_path / "o").exists()


def test_config_option_with_a_missing_file_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(tmp_path / "none.toml")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"--config {tmp_path / 'none.toml'}: "
                                                    "no such file")


def test_scan_command_takes_its_versions_from_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, PYPROJECT)
    seen: dict[str, Any] = {}

    def fake_scan(paths: list[str], old: str, new: str, *rest: Any) -> Any:
        seen.update(paths=paths, old=old, new=new)
        raise KeyboardInterrupt  # stop here: what the scan got is the test

    monkeypatch.setattr("harness.cli.run_scan", fake_scan)
    monkeypatch.chdir(repo)
    assert main(["scan", "src", "--to", "3.17.2"]) == 130
    assert seen == {"paths": ["src"], "old": "2.9.2", "new": "3.17.2"}


class _Parser:
    """What the plugin's pytest_addoption sees of pytest's parser: flags recorded."""

    def __init__(self) -> None:
        self.flags: set[str] = set()

    def getgroup(self, name: str) -> _Parser:
        return self

    def addoption(self, *flags: str, **kwargs: Any) -> None:
        argparse.ArgumentParser().add_argument(*flags, **kwargs)  # what argparse accepts
        self.flags.update(flags)


def test_every_run_option_is_a_plugin_option_or_deliberately_not() -> None:
    parser = _Parser()
    add_plugin_options(parser)  # type: ignore[arg-type]
    flags = parser.flags
    wanted = {plugin_flag(o, side) for o in for_command("run") if o.plugin
              for side, _ in o.instances()}
    assert wanted <= flags
    assert {"--mlflow-from", "--mlflow-to", "--harness-out", "--harness-provider",
            "--harness-server-workers", "--harness-bench-budget", "--harness-to-image"} <= flags
    assert "--harness-select" not in flags  # pytest's own -k does that


class _PytestConfig:
    def __init__(self, root: Path, given: dict[str, Any]) -> None:
        self.rootpath = root
        self.given = given

    def getoption(self, name: str) -> Any:
        return self.given.get(name.removeprefix(PREFIX))


def test_the_plugin_reads_the_same_file_with_the_same_precedence(tmp_path: Path) -> None:
    repo = _repo(tmp_path, PYPROJECT)
    (repo / "src").mkdir()
    config = plugin_run_config(_PytestConfig(repo, {"bench_budget": 60.0}))  # type: ignore[arg-type]
    assert config.bench.budget_s == 60.0 and config.bench.threshold == pytest.approx(0.25)
    assert config.from_side.spec.raw == "2.9.2"


def test_readme_option_table_is_generated_from_the_options() -> None:
    text = README.read_text()
    assert START in text and END in text
    shown = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert shown == render(), ("README.md's option table is out of date: "
                               "python3 -m harness.config.table --write README.md")
    for option in OPTIONS:
        for side, _ in option.instances():
            assert f"`{option.cli_flags(side)[0]}" in shown, option.key


def test_every_option_has_a_usable_name() -> None:
    for option in OPTIONS:
        assert option.kind in set(Kind) and option.dest().isidentifier(), option.key
        assert option.key == option.key.lower() and " " not in option.key


def test_the_readme_config_example_is_a_valid_config(tmp_path: Path) -> None:
    text = README.read_text()
    example = text.split("**A config file**", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    repo = _repo(tmp_path, example)
    config = run_config(["run"], cwd=repo)
    assert (config.from_side.spec.raw, config.to_side.spec.raw) == ("2.9.2", "3.4.0")
    assert config.project is not None and config.project.path == repo.resolve()
    assert config.scan.paths == (repo.resolve(),)
    assert config.to_side.server_args == ("--workers", "2")
    assert config.out_dir == (repo / "build" / "upgrade-report").resolve()
