"""The scenarios' pytest runs (in-process or in lanes) without writing to the console: the
run's progress says what runs (no MLflow: nothing matches, so nothing is provisioned or started)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.config import RunConfig, build_config
from harness.progress import Progress
from harness.scenarios_runner import run_scenarios


class _Session:
    """What the plugin reads of a session before any test runs."""

    def __init__(self, config: RunConfig, progress: Progress) -> None:
        self.config, self.progress, self.sides = config, progress, {}
        self.extra_clients: dict[str, object] = {}


@pytest.mark.parametrize("sequential", [True, False], ids=["in-process", "lanes"])
def test_pytest_output_stays_off_the_console(tmp_path: Path, sequential: bool,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    config = build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path),
                          select="no_scenario_has_this_name", sequential=sequential)
    stream = io.StringIO()
    outcome = run_scenarios(_Session(config, Progress(stream=stream, live=False)),  # type: ignore[arg-type]
                            config)
    assert outcome.usage_error == "no scenario matched -k 'no_scenario_has_this_name'"
    out, err = capfd.readouterr()
    assert out == "" and err == "" and stream.getvalue() == ""
