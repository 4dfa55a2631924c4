"""Breaks that surface in the team's own suite, on a small project run by real pytest against
two stand-in MLflow packages (an "old" one and a "new" one that dropped a module, an attribute
and changed a value's shape): a test module or conftest that no longer collects is a newly
failing module with its import error and the team's line that imported it; a failure raised in
the team's code names that line and the MLflow call that made the value it used."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from harness.project.compare import (
    COLLECTED,
    NEWLY_FAILING,
    NEWLY_FAILING_MODULE,
    PASSING_BOTH,
    compare,
    summary,
)
from harness.project.compare import (
    TestComparison as Comparison,
)
from harness.project.outcomes import ERROR, error_line, team_frame
from harness.project.result import ProjectResult
from harness.project.suite import SuiteRun, run_suite
from harness.reports.junit import render_junit
from harness.reports.markdown import render_markdown
from harness.results.model import Level
from harness.results.phase import Upgrade
from harness.verdict import decide
from tests.unit.test_report_writers import full_results

ENTITIES = '''
    class Run:
        def __init__(self, info):
            self.info = info


    class ModelVersion:
        def __init__(self, source):
            self.source = source
'''

CLIENT = """
    from mlflow.entities import ModelVersion, Run, RunInfo


    class MlflowClient:
        def get_run(self, run_id):
            return Run(RunInfo())

        def get_model_version(self, name, version):
            return ModelVersion({source!r})
"""

OLD_MLFLOW = {
    "mlflow/__init__.py": "from mlflow.client import MlflowClient\n",
    "mlflow/llm/__init__.py": "def log_predictions(inputs, outputs, prompts):\n    pass\n",
    "mlflow/entities.py": ENTITIES + '''

    class RunInfo:
        run_id = "abc"
        run_uuid = "abc"
    ''',
    "mlflow/client.py": CLIENT.format(source="mlflow-artifacts:/1/abc/artifacts/model"),
}

NEW_MLFLOW = {  # 3.x: no mlflow.llm (though a lazy loader still names it), no run_uuid
    "mlflow/__init__.py": "from mlflow.client import MlflowClient\n\nllm = None\n",
    "mlflow/entities.py": ENTITIES + '''

    class RunInfo:
        run_id = "abc"
    ''',
    "mlflow/client.py": CLIENT.format(source="models:/m-abc"),
}

TEAM = {
    "pyproject.toml": '''
        [tool.pytest.ini_options]
        testpaths = ["tests"]
        pythonpath = ["src"]
    ''',
    "src/team/__init__.py": "",
    "src/team/predictions.py": '''
        """Logs an LLM's predictions."""
        from mlflow.llm import log_predictions


        def log(inputs, outputs):
            log_predictions(inputs, outputs, prompts=["p"])
    ''',
    "src/team/registry.py": '''
        from mlflow import MlflowClient


        def run_uuid(run_id):
            client = MlflowClient()
            run = client.get_run(run_id)
            return run.info.run_uuid


        def run_of(name, version):
            version = MlflowClient().get_model_version(name, version)
            return version.source.split("/")[2]
    ''',
    "tests/test_predictions.py": '''
        from team.predictions import log


        def test_log():
            log(["a"], ["b"])


        def test_log_empty():
            log([], [])
    ''',
    "tests/test_registry.py": '''
        from team.registry import run_of, run_uuid


        def test_run_uuid():
            assert run_uuid("abc") == "abc"


        def test_run_of_a_version():
            assert run_of("m", "1") == "abc"


        def test_nothing_to_do_with_mlflow():
            assert 1 + 1 == 2
    ''',
    "tests/nightly/conftest.py": '''
        import pytest

        from team.predictions import log


        @pytest.fixture
        def logger():
            return log
    ''',
    "tests/nightly/test_nightly.py": "def test_nightly(logger):\n    assert logger\n",
}


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def _sides(tmp_path: Path, project: Path) -> tuple[SuiteRun, SuiteRun]:
    old, new = _write(tmp_path / "old", OLD_MLFLOW), _write(tmp_path / "new", NEW_MLFLOW)
    return (SuiteRun(Path(sys.executable), project, "http://old", tmp_path / "logs", "from-1",
                     {"PYTHONPATH": str(old)}),
            SuiteRun(Path(sys.executable), project, "http://new", tmp_path / "logs", "to-2",
                     {"PYTHONPATH": str(new)}))


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Comparison]:
    tmp_path = tmp_path_factory.mktemp("breaks")
    project = _write(tmp_path / "team", TEAM).resolve()
    old_run, new_run = _sides(tmp_path, project)
    old, new = run_suite(old_run, [], 120), run_suite(new_run, [], 120)
    assert {o.outcome for o in old.values()} == {"passed"}, old
    assert new["tests/test_predictions.py"].outcome == ERROR  # pytest's collection error
    return {t.test: t for t in compare(old, new, root=project)}


def test_a_module_that_no_longer_imports_is_a_newly_failing_module(
        judged: dict[str, Comparison]) -> None:
    module = judged["tests/test_predictions.py"]
    assert (module.verdict, module.old, module.new) == (
        NEWLY_FAILING_MODULE, COLLECTED, ERROR)
    assert module.message == "ModuleNotFoundError: No module named 'mlflow.llm'"
    assert module.team_frame == ("src/team/predictions.py:2: from mlflow.llm import "
                                 "log_predictions")
    assert module.covers == ("tests/test_predictions.py::test_log",
                             "tests/test_predictions.py::test_log_empty")
    # its tests are folded into it, not "ran on one version only"
    assert "tests/test_predictions.py::test_log" not in judged


def test_a_conftest_that_no_longer_imports_fails_its_folder(
        judged: dict[str, Comparison]) -> None:
    folder = judged["tests/nightly"]
    assert folder.verdict == NEWLY_FAILING_MODULE
    assert folder.covers == ("tests/nightly/test_nightly.py::test_nightly",)
    assert (folder.team_frame or "").startswith("src/team/predictions.py:2: ")


def test_a_failure_in_the_teams_code_names_its_line_and_the_call_behind_the_value(
        judged: dict[str, Comparison]) -> None:
    uuid = judged["tests/test_registry.py::test_run_uuid"]
    assert (uuid.verdict, uuid.mlflow_call) == (NEWLY_FAILING, None)
    assert uuid.message == "AttributeError: 'RunInfo' object has no attribute 'run_uuid'"
    assert uuid.team_frame == "src/team/registry.py:7: return run.info.run_uuid"
    assert uuid.value_from == ("mlflow.MlflowClient.get_run (src/team/registry.py:6: "
                               "run = client.get_run(run_id))")
    source = judged["tests/test_registry.py::test_run_of_a_version"]
    assert source.message == "IndexError: list index out of range"
    assert source.team_frame == ('src/team/registry.py:12: return version.source.split("/")'
                                 '[2]')
    assert source.value_from == (
        "mlflow.MlflowClient.get_model_version (src/team/registry.py:11: version = "
        "MlflowClient().get_model_version(name, version))")
    assert judged["tests/test_registry.py::test_nothing_to_do_with_mlflow"].verdict == \
        PASSING_BOTH


def test_newly_failing_modules_fail_the_verdict_and_are_reported(
        judged: dict[str, Comparison]) -> None:
    tests = list(judged.values())
    project = ProjectResult("/team", [], tests=tests, summary=summary(tests))
    assert project.summary == {"newly_failing": 2, "newly_failing_module": 2, "passed": 1}
    (modules, broken) = project.blocking(Upgrade("1", "2"))
    assert modules.startswith("2 of your test modules no longer collect on 2: tests/nightly "
                              "(ModuleNotFoundError: No module named 'mlflow.llm', at "
                              "src/team/predictions.py:2: from mlflow.llm import "
                              "log_predictions)")
    assert broken.startswith("2 of your tests newly fail on 2: tests/test_registry.py::"
                             "test_run_of_a_version (src/team/registry.py:12: ")
    round_trip = ProjectResult.from_dict(project.to_dict())
    assert round_trip.tests == project.tests
    results = full_results()
    results.project = project
    results.verdict = decide(results)
    assert results.verdict.level is Level.NOT_SAFE
    markdown = render_markdown(results)
    assert ("- newly failing module: `tests/test_predictions.py` (collected → error; its 2 "
            "test(s) did not run): ModuleNotFoundError: No module named 'mlflow.llm' — "
            "imported at `src/team/predictions.py:2: from mlflow.llm import log_predictions`"
            ) in markdown
    assert ("- newly failing: `tests/test_registry.py::test_run_uuid` (passed → failed): "
            "AttributeError: 'RunInfo' object has no attribute 'run_uuid' — at "
            "`src/team/registry.py:7: return run.info.run_uuid` (the value from "
            "`mlflow.MlflowClient.get_run (src/team/registry.py:6: run = "
            "client.get_run(run_id))`)") in markdown
    junit = render_junit(results)
    assert "newly_failing_module: ModuleNotFoundError: No module named 'mlflow.llm' (at " \
           "src/team/predictions.py:2: from mlflow.llm import log_predictions)" in junit


def test_a_root_conftest_that_no_longer_imports_is_one_newly_failing_module(
        tmp_path: Path) -> None:
    """pytest stops before collecting anything (exit 4, no report): the run's `<suite>`
    outcome on the new side, named by the conftest it could not load."""
    files = {**TEAM, "tests/conftest.py": "from team.predictions import log\n"}
    project = _write(tmp_path / "team", files).resolve()
    old_run, new_run = _sides(tmp_path, project)
    old, new = run_suite(old_run, [], 120), run_suite(new_run, [], 120)
    assert list(new) == ["<suite>"] and "exit 4" in new["<suite>"].message
    (module,) = compare(old, new, root=project)
    assert (module.test, module.verdict) == ("tests/conftest.py", NEWLY_FAILING_MODULE)
    assert module.message == "ModuleNotFoundError: No module named 'mlflow.llm'"
    assert module.team_frame == "src/team/predictions.py:2: from mlflow.llm import " \
                                "log_predictions"
    assert len(module.covers) == len(old) == 6


def test_the_innermost_team_frame_and_the_error_line() -> None:
    text = ("tests/test_a.py:3: in test_a\n    assert f()\n"
            "src/team/a.py:9: in f\n    return g().split('/')[2]\n"
            "/env/lib/python3.11/site-packages/mlflow/x.py:5: in g\n    raise KeyError\n"
            "E   KeyError: 'x'\n")
    assert team_frame(text) == "src/team/a.py:9: return g().split('/')[2]"
    assert error_line(text) == "KeyError: 'x'"
    assert team_frame("/repo/src/b.py:4: in h\n    x()\n", Path("/repo")) == "src/b.py:4: x()"
    assert team_frame("/elsewhere/b.py:4: in h\n    x()\n", Path("/repo")) is None
