"""A team's own code under both versions, on real servers: examples/team-project, copied outside
the repository, through `run --project … --scenarios …` (the scan, the team's suite per side,
the team's scenario) and through plain `pytest` in its scenario folder (the pytest11 entry
point, no `-p`). Each planted break must be named exactly once per channel, at its place, and
nothing else: among them a module-level import of a module 3.4.0 removed (a test module that no
longer collects) and breaks raised in the team's own code (named at the team's line, with the
MLflow call its value came from).

CI-sized: only the team's scenario (`--no-builtin`), no matrix, no benchmark.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results.model import Level, RunResults, load_results
from tests.integration.conftest import TEST_SERVER_WORKERS, CliRun, harness_processes, run_cli

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "team-project"
SRC = "src/team_mlops"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example as a team has it: its own repository, outside the harness's."""
    folder = tmp_path_factory.mktemp("elsewhere") / "team-project"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return folder


@pytest.fixture(scope="module")
def team_run(team: Path, tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    out = tmp_path_factory.mktemp("team-run") / "report"
    return run_cli("run", "--from", "2.9.2", "--to", "3.4.0", "--provider", "local",
                   "--project", str(team), "--scenarios", str(team / "scenarios"),
                   "--no-builtin", "--no-matrix", "--no-bench", "--out", str(out))


@pytest.fixture(scope="module")
def results(team_run: CliRun) -> RunResults:
    assert (team_run.out / "results.json").is_file(), team_run.stderr[-3000:]
    return load_results(team_run.out / "results.json")


def line_of(team: Path, file: str, text: str) -> int:
    """The one line of `file` holding `text`: where the break is planted."""
    rows = (team / SRC / file).read_text().splitlines()
    (number,) = [i for i, row in enumerate(rows, 1) if text in row]
    return number


def test_the_scan_names_each_planted_break_once_at_its_line(team: Path,
                                                            results: RunResults) -> None:
    assert results.scan is not None
    found = [(f.file, f.line, f.api, f.parameter or f.kind, f.kind) for f in results.scan.findings]
    evaluate = line_of(team, "deltaone.py", "result = mlflow.evaluate(")
    assert found == [
        (f"{SRC}/deltaone.py", line_of(team, "deltaone.py", "higher_is_better=True"),
         "mlflow.models.MetricThreshold", "higher_is_better", "parameter-removed"),
        (f"{SRC}/deltaone.py", evaluate, "mlflow.evaluate", "baseline_model",
         "parameter-removed"),
        (f"{SRC}/deltaone.py", evaluate, "mlflow.evaluate", "validation_thresholds",
         "parameter-removed"),
        (f"{SRC}/predictions.py", line_of(team, "predictions.py", "from mlflow.llm import"),
         "mlflow.llm", "removed", "removed"),
        (f"{SRC}/registry.py", line_of(team, "registry.py", "info = mlflow.sklearn.log_model("),
         "mlflow.sklearn.log_model", "artifact_path", "parameter-deprecated"),
        (f"{SRC}/registry.py", line_of(team, "registry.py", "self.client.list_artifacts(run_id)"),
         "mlflow.MlflowClient.list_artifacts", "behaviour", "behaviour"),
        (f"{SRC}/registry.py", line_of(team, "registry.py", "return run.info.run_uuid"),
         "mlflow.MlflowClient.get_run(…).info.run_uuid", "removed", "removed"),
        (f"{SRC}/registry.py", line_of(team, "registry.py", 'source.split("/")[-3]'),
         "mlflow.MlflowClient.get_model_version(…).source", "behaviour", "behaviour"),
    ]


def test_the_suite_names_the_broken_tests_and_passes_the_rest(team: Path,
                                                             results: RunResults) -> None:
    assert results.project is not None
    tests = {t.test: t for t in results.project.tests}
    broken = {name for name, t in tests.items() if t.verdict != "passed"}
    assert broken == {"tests/test_deltaone.py::test_thresholds_say_one_point_higher",
                      "tests/test_registry_integration.py::test_the_run_holds_the_model_files",
                      "tests/test_registry_integration.py::test_the_audit_log_names_runs_by_uuid",
                      "tests/test_registry_integration.py::"
                      "test_a_version_names_the_run_it_came_from",
                      "tests/test_predictions.py"}
    assert len(tests) == 13 and results.project.summary == {
        "newly_failing": 4, "newly_failing_module": 1, "passed": 8}
    assert results.project.conflicts == {} and results.project.set_aside == ["mlflow==2.9.2"]
    threshold = tests["tests/test_deltaone.py::test_thresholds_say_one_point_higher"]
    assert (threshold.old, threshold.new) == ("passed", "failed")
    assert "higher_is_better" in threshold.message
    assert threshold.mlflow_call is not None and threshold.mlflow_call.startswith(
        f"{SRC}/deltaone.py:{line_of(team, 'deltaone.py', 'higher_is_better=True')}:")
    files = tests["tests/test_registry_integration.py::test_the_run_holds_the_model_files"]
    assert (files.old, files.new) == ("passed", "failed")
    assert "has_model_files" in files.message
    for test in (threshold, files):  # re-run on both: a break each time, not a flake
        assert test.verdict == "newly_failing" and test.reruns == ("passed", "failed")
    # An integration test really talked to each side's server (not skipped for lack of one).
    assert tests["tests/test_registry_integration.py::test_load_by_stage"].old == "passed"


def test_a_test_module_that_no_longer_imports_is_a_newly_failing_module(
        team: Path, results: RunResults) -> None:
    assert results.project is not None
    module = {t.test: t for t in results.project.tests}["tests/test_predictions.py"]
    assert (module.verdict, module.old, module.new) == ("newly_failing_module", "collected",
                                                        "error")
    assert module.message == "ModuleNotFoundError: No module named 'mlflow.llm'"
    line = line_of(team, "predictions.py", "from mlflow.llm import")
    assert module.team_frame == f"{SRC}/predictions.py:{line}: from mlflow.llm import " \
                                "log_predictions"
    assert module.covers == ("tests/test_predictions.py::test_answers_must_match_questions",
                             "tests/test_predictions.py::test_one_row_per_answer")


def test_breaks_raised_in_the_teams_code_name_its_line_and_the_call_behind_the_value(
        team: Path, results: RunResults) -> None:
    assert results.project is not None
    tests = {t.test: t for t in results.project.tests}
    uuid = tests["tests/test_registry_integration.py::test_the_audit_log_names_runs_by_uuid"]
    assert uuid.message == "AttributeError: 'RunInfo' object has no attribute 'run_uuid'"
    assert uuid.mlflow_call is None and uuid.reruns == ("passed", "failed")
    read, got = (line_of(team, "registry.py", text) for text in (
        "return run.info.run_uuid", "run = self.client.get_run(run_id)"))
    assert uuid.team_frame == f"{SRC}/registry.py:{read}: return run.info.run_uuid"
    assert uuid.value_from == (f"mlflow.MlflowClient.get_run ({SRC}/registry.py:{got}: "
                               "run = self.client.get_run(run_id))")
    source = tests["tests/test_registry_integration.py::"
                   "test_a_version_names_the_run_it_came_from"]
    assert source.message == "IndexError: list index out of range"
    split = line_of(team, "registry.py", 'source.split("/")[-3]')
    assert source.team_frame == f'{SRC}/registry.py:{split}: return source.split("/")[-3]'
    assert source.value_from is not None and source.value_from.startswith(
        f"mlflow.MlflowClient.get_model_version ({SRC}/registry.py:{split - 1}: ")


def test_the_team_scenario_ran_from_outside_the_repository(results: RunResults) -> None:
    assert results.team_scenarios == ["team_registry"]
    assert {(c.scenario, c.side, c.status.value) for c in results.checks} == {
        ("team_registry", "from", "passed"), ("team_registry", "to", "passed")}
    diff = {(d.path, d.classification, d.catalog_id) for d in results.diff}
    # The list_artifacts break, seen by the scenario; and 3.x's documented models:/ URI.
    assert diff == {("run_holds_model_files", "unexpected", ""),
                    ("model_uri", "expected", "logged-model-uri")}


def test_the_verdict_names_the_breaks_and_nothing_else(team_run: CliRun,
                                                       results: RunResults) -> None:
    assert team_run.code == 1, team_run.stderr[-3000:]
    verdict = results.verdict
    assert verdict is not None and verdict.level is Level.NOT_SAFE
    reasons = [r.split(":")[0] for r in verdict.reasons]
    assert reasons == [  # your code and your tests first, as in the report
        "5 place(s) in your code use APIs 3.4.0 removed or changed",
        "1 of your test modules no longer collect on 3.4.0",
        "4 of your tests newly fail on 3.4.0",
        "1 undocumented behaviour change(s) between the versions",
        "1 place(s) in your code use deprecated APIs",
        "2 place(s) in your code to check, where 3.4.0 changed behaviour",
        "1 documented behaviour change(s) your code may rely on",
        "performance not measured (--no-bench)",
    ]
    report = (team_run.out / "report.md").read_text()
    yours = report.split("## Your code", 1)[1].split("\n## ", 1)[0]
    assert "test_the_run_holds_the_model_files" in yours and "`team_registry`" in yours
    assert set(results.phases) >= {"scan", "scenarios", "your tests"}
    assert harness_processes(results.run_id) == set()


def test_plain_pytest_in_the_team_scenario_folder(team: Path, tmp_path: Path,
                                                  results: RunResults) -> None:
    """`pytest --mlflow-from 2.9.2 --mlflow-to 3.4.0` in the folder: the plugin comes from its
    pytest11 entry point and provisions both servers itself (after the run above: one set of
    servers at a time). The skew cells are left out (the matrix has its own tests)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--mlflow-from", "2.9.2", "--mlflow-to", "3.4.0",
         "--harness-provider", "local", "--harness-out", str(tmp_path / "out"),
         "--harness-server-workers", TEST_SERVER_WORKERS[1], "-p", "no:cacheprovider",
         "-k", "not from_on_to and not to_on_from", "-v"],
        cwd=team / "scenarios", capture_output=True, text=True, timeout=600, env=env,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "test_register_find_and_check_files[from] PASSED" in proc.stdout
    assert "test_register_find_and_check_files[to] PASSED" in proc.stdout
    assert "2 passed, 2 deselected" in proc.stdout
