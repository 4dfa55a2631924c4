"""--project: the suite on both sides (environments built with the team's requirements, MLflow
held), re-runs that tell a break from a flake, conflicts as findings, and the results in the
verdict and every writer."""

from __future__ import annotations

import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import build_config
from harness.envs.builder import EnvRequest, MlflowEnv
from harness.envs.spec import parse_spec
from harness.errors import EnvironmentBuildError
from harness.project.result import ProjectResult
from harness.project.run import ProjectSettings, SideTarget, check_project, run_project
from harness.reports.junit import render_junit
from harness.reports.markdown import render_markdown
from harness.results.model import Level
from harness.verdict import decide
from tests.unit.test_report_writers import full_results


def _env(tmp_path: Path) -> MlflowEnv:
    """The harness's own interpreter, dressed as an environment."""
    (tmp_path / "env" / "bin").mkdir(parents=True, exist_ok=True)
    python = tmp_path / "env" / "bin" / "python"
    if not python.exists():
        python.symlink_to(sys.executable)
    return MlflowEnv(tmp_path / "env", "d", "x", {}, 0.0, True)


def _project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "requirements.txt").write_text("mlflow==2.9.2\nrequests\n")
    (root / "tests" / "test_team.py").write_text(textwrap.dedent("""
        import os
        from pathlib import Path

        COUNTER = Path(__file__).parent / "runs.txt"


        def test_stable():
            assert True


        def test_breaks_on_the_new_server():
            assert os.environ["MLFLOW_TRACKING_URI"].endswith(":5001")


        def test_flaky():
            count = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
            COUNTER.write_text(str(count))
            assert count != 2
    """))
    return root


def _targets() -> list[SideTarget]:
    return [SideTarget("from", "2.9.2", EnvRequest(parse_spec("2.9.2")), "http://127.0.0.1:5001"),
            SideTarget("to", "3.4.0", EnvRequest(parse_spec("3.4.0")), "http://127.0.0.1:5002")]


def test_suite_on_both_sides_with_reruns(tmp_path: Path) -> None:
    project = _project(tmp_path / "team")
    settings = check_project(str(project), None, None, 120)
    built: list[EnvRequest] = []

    def build(request: EnvRequest) -> MlflowEnv:
        built.append(request)
        return _env(tmp_path)

    result = run_project(settings, _targets(), tmp_path / "logs", build)
    assert [r.extras for r in built] == [("requests", "pytest")] * 2  # the team's mlflow pin aside
    assert result.set_aside == ["mlflow==2.9.2"]
    verdicts = {t.test: t.verdict for t in result.tests}
    assert verdicts == {"tests/test_team.py::test_stable": "passed",
                        "tests/test_team.py::test_breaks_on_the_new_server": "newly_failing",
                        "tests/test_team.py::test_flaky": "flaky"}
    assert set(result.seconds) == {"environment from", "suite from", "environment to",
                                   "suite to", "reruns"}


def test_a_requirements_conflict_is_a_finding(tmp_path: Path) -> None:
    project = _project(tmp_path / "team")

    def build(request: EnvRequest) -> MlflowEnv:
        if str(request.spec.version) == "3.4.0":
            raise EnvironmentBuildError("uv could not install 3.4.0: requests<1 conflicts")
        return _env(tmp_path)

    result = run_project(check_project(str(project), None, None, 120), _targets(),
                         tmp_path / "logs", build)
    assert result.conflicts == {"to": "uv could not install 3.4.0: requests<1 conflicts"}
    assert result.tests == []


@pytest.mark.parametrize(("argv", "expected"), [
    (["--project", "/no/such/repo"], "--project /no/such/repo: no such folder"),
    (["--project", ".", "--project-tests", "'unbalanced"], "--project-tests"),
    (["--project", ".", "--project-requirements", "/no/file.txt"], "no such file"),
])
def test_bad_project_options_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          argv: list[str], expected: str) -> None:
    code = main(["run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(tmp_path / "o"),
                 *argv])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_scan_defaults_to_the_project(tmp_path: Path) -> None:
    project = _project(tmp_path / "team")
    config = build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path / "o"),
                          project=str(project), project_tests="tests -k stable")
    assert config.scan.paths == (project.resolve(),)
    assert config.project == ProjectSettings(project.resolve(), ("tests", "-k", "stable"),
                                             project.resolve() / "requirements.txt", 900.0)


PROJECT = {
    "path": "/repo", "args": [], "set_aside": ["mlflow==2.9.2"], "conflicts": {},
    "summary": {"newly_failing": 1, "passed": 1, "flaky": 1}, "seconds": {},
    "tests": [
        {"test": "tests/test_r.py::test_files", "verdict": "newly_failing", "old": "passed",
         "new": "failed", "message": "assert False",
         "mlflow_call": "src/registry.py:70: names = client.list_artifacts(run_id)",
         "reruns": ["passed", "failed"]},
        {"test": "tests/test_r.py::test_ok", "verdict": "passed", "old": "passed",
         "new": "passed", "message": "", "mlflow_call": None, "reruns": []},
        {"test": "tests/test_r.py::test_flaky", "verdict": "flaky", "old": "passed",
         "new": "failed", "message": "boom", "mlflow_call": None, "reruns": ["passed", "passed"]},
    ],
}


def test_newly_failing_tests_fail_the_verdict_and_come_first() -> None:
    results = full_results()
    results.project = ProjectResult.from_dict(PROJECT)
    verdict = decide(results)
    assert verdict.level is Level.NOT_SAFE
    assert any("1 of your tests newly fail on 3.4.0: tests/test_r.py::test_files "
               "(src/registry.py:70" in r for r in verdict.reasons)
    assert any("1 of your tests are flaky" in r for r in verdict.reasons)
    results.verdict = verdict
    markdown = render_markdown(results)
    assert "- newly failing: `tests/test_r.py::test_files` (passed → failed): assert False — " \
           "from `src/registry.py:70: names = client.list_artifacts(run_id)`" in markdown
    suites = {s.get("name"): s for s in ET.fromstring(render_junit(results))}
    assert suites["your tests on 3.4.0"].get("failures") == "2"
    assert suites["your tests on 2.9.2"].get("failures") == "0"
