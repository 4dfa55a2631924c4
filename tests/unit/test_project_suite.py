"""The team's test suite: requirements with MLflow held, the suite run in an interpreter
against a tracking URI under a time bound, outcomes per test from JUnit, and the comparison
across versions (newly failing with the MLflow call, flaky after re-runs, …)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from harness.project.compare import (
    FAILING_BOTH,
    FLAKY,
    NEWLY_FAILING,
    NEWLY_PASSING,
    ONE_SIDE,
    PASSING_BOTH,
    SKIPPED_SIDE,
    compare,
    needs_rerun,
    summary,
)
from harness.project.outcomes import ERROR, FAILED, PASSED, SKIPPED, Outcome, mlflow_call
from harness.project.requirements import hold_mlflow, write_held
from harness.project.suite import SUITE, SuiteRun, run_suite


def test_the_teams_mlflow_pins_are_set_aside(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("pandas>=2\nmlflow-skinny==2.9.2\n")
    (tmp_path / "requirements.txt").write_text(textwrap.dedent("""
        # runtime
        mlflow[extras]==2.9.2  # the version we run today
        -r base.txt
        scikit-learn
        mlflowx==1.0
    """))
    held = hold_mlflow(tmp_path / "requirements.txt")
    assert held.kept == ("pandas>=2", "scikit-learn", "mlflowx==1.0")
    assert held.set_aside == ("mlflow[extras]==2.9.2", "mlflow-skinny==2.9.2")
    assert write_held(held, tmp_path / "out" / "r.txt").read_text() == \
        "pandas>=2\nscikit-learn\nmlflowx==1.0\n"


def _project(root: Path) -> Path:
    tests = root / "tests"
    tests.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    (tests / "test_a.py").write_text(textwrap.dedent("""
        import os

        import pytest


        def test_uri():
            assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"


        def test_fails():
            assert 1 == 2


        @pytest.mark.skip(reason="not today")
        def test_skipped():
            pass


        class TestGroup:
            @pytest.mark.parametrize("n", [1, 2])
            def test_param(self, n):
                assert n
    """))
    (tests / "test_broken.py").write_text("import no_such_module_here\n")
    return root


def test_suite_outcomes_per_test_collection_errors_included(tmp_path: Path) -> None:
    run = SuiteRun(Path(sys.executable), _project(tmp_path / "p"), "http://127.0.0.1:5999",
                   tmp_path / "logs", "from-test")
    found = {t: o.outcome for t, o in run_suite(run, [], timeout_s=120).items()}
    assert found == {
        "tests/test_a.py::test_uri": PASSED,
        "tests/test_a.py::test_fails": FAILED,
        "tests/test_a.py::test_skipped": SKIPPED,
        "tests/test_a.py::TestGroup::test_param[1]": PASSED,
        "tests/test_a.py::TestGroup::test_param[2]": PASSED,
        "tests/test_broken.py": ERROR,
    }


def test_the_harness_plugin_stays_out_of_the_teams_suite(tmp_path: Path) -> None:
    """This interpreter has the harness's pytest11 entry point; the team's suite must not load
    it (an old side's environment that sees it through PYTHONPATH cannot even import it)."""
    project = tmp_path / "team"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_plugins.py").write_text(
        "def test_no_harness(pytestconfig):\n"
        "    assert not pytestconfig.pluginmanager.has_plugin('harness.plugin')\n")
    run = SuiteRun(Path(sys.executable), project, "http://x", tmp_path / "logs", "from-test")
    found = run_suite(run, [], timeout_s=120)
    assert {t: o.outcome for t, o in found.items()} == {
        "tests/test_plugins.py::test_no_harness": PASSED}


def test_a_suite_past_its_time_is_one_error(tmp_path: Path) -> None:
    project = tmp_path / "slow"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_slow.py").write_text("import time\n\n\ndef test_sleep():\n"
                                                    "    time.sleep(60)\n")
    run = SuiteRun(Path(sys.executable), project, "http://x", tmp_path / "logs", "to-test")
    found = run_suite(run, ["tests"], timeout_s=3)
    assert list(found) == [SUITE] and found[SUITE].message == "timed out after 3s"


TRACEBACK = """\
tests/test_eval.py:12: in test_validate
    result = validate_with_mlflow(candidate, baseline, data)
src/team_mlops/deltaone.py:66: in validate_with_mlflow
    result = mlflow.evaluate(candidate_uri, data, baseline_model=baseline_uri)
/env/lib/python3.11/site-packages/mlflow/models/evaluation/deprecated.py:24: in evaluate
    return model_evaluate(*args, **kwargs)
E   TypeError: evaluate() got an unexpected keyword argument 'baseline_model'
"""


def test_the_mlflow_call_a_failure_came_from() -> None:
    assert mlflow_call(TRACEBACK) == ("src/team_mlops/deltaone.py:66: result = mlflow.evaluate("
                                      "candidate_uri, data, baseline_model=baseline_uri)")
    assert mlflow_call("tests/test_x.py:3: in test_x\n    assert 1 == 2\n") is None
    refused = ("tests/test_d.py:20: in test_thresholds\n    threshold = thresholds()\n"
               "src/team_mlops/deltaone.py:64: in thresholds\n"
               "    return {metric: MetricThreshold(min_absolute_change=0.01, "
               "higher_is_better=True)}\n"
               "E   TypeError: MetricThreshold.__init__() got an unexpected keyword argument "
               "'higher_is_better'\n")
    assert mlflow_call(refused) == ("src/team_mlops/deltaone.py:64: return {metric: "
                                    "MetricThreshold(min_absolute_change=0.01, "
                                    "higher_is_better=True)}")


def _outcomes(**items: str) -> dict[str, Outcome]:
    return {name: Outcome(name, outcome, "boom" if outcome in (FAILED, ERROR) else "",
                          TRACEBACK if outcome == FAILED else "")
            for name, outcome in items.items()}


def test_each_test_is_judged_across_the_versions() -> None:
    old = _outcomes(same=PASSED, broke=PASSED, fixed=FAILED, both=FAILED, skip=SKIPPED,
                    flaky=PASSED, gone=PASSED)
    new = _outcomes(same=PASSED, broke=FAILED, fixed=PASSED, both=ERROR, skip=PASSED,
                    flaky=FAILED, added=PASSED)
    assert needs_rerun(old, new) == ["broke", "fixed", "flaky"]
    judged = {c.test: c for c in compare(old, new, {"broke": ([PASSED], [FAILED]),
                                                    "flaky": ([PASSED], [PASSED])})}
    assert {t: c.verdict for t, c in judged.items()} == {
        "same": PASSING_BOTH, "broke": NEWLY_FAILING, "fixed": NEWLY_PASSING,
        "both": FAILING_BOTH, "skip": SKIPPED_SIDE, "flaky": FLAKY, "gone": ONE_SIDE,
        "added": ONE_SIDE}
    assert judged["broke"].mlflow_call is not None and "baseline_model" in \
        judged["broke"].mlflow_call
    assert judged["broke"].reruns == (PASSED, FAILED)
    assert summary(list(judged.values()))[ONE_SIDE] == 2
