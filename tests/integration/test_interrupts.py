"""SIGINT and SIGTERM at every phase leave nothing behind: no process, container, database,
bucket object or temp folder. Each phase is reached for real and held there by a pause point
(MLFLOW_UPGRADE_HARNESS_PAUSE_AT, harness/faults.py); then the signal comes.

For each phase two runs go at once: one gets SIGINT, on the team's own stores (--provider
external: databases and objects are counted); the other gets SIGTERM, in containers when a
Docker engine answers (containers are counted), else on local processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.faults import PAUSE_ENV
from harness.services.docker_engine import RUN_LABEL
from tests.integration.conftest import harness_processes, run_folders
from tests.integration.external_store import ExternalStore, external_store
from tests.integration.live_run import LiveRun
from tests.integration.test_docker_provider import DOCKER_ARGS, engine_answers
from tests.integration.test_docker_provider import ENV as DOCKER_ENV

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TRACKING = ("-k", "test_tracking")
PHASES = {  # pause point → the options that lead the run there
    "environment from": (*TRACKING, "--no-bench"),
    "start mlflow": (*TRACKING, "--no-bench"),
    # the drill's start, in the cross lane, while the other lanes run their tracking tests
    "migration": ("-k", "test_tracking or test_migration", "--no-bench"),
    "benchmarks": (*TRACKING, "--bench-budget", "10"),
    "reports": (*TRACKING, "--no-bench"),
}


@pytest.fixture(scope="module")
def store() -> Iterator[ExternalStore]:
    with external_store() as started:
        yield started


@pytest.fixture(scope="module")
def docker_args() -> tuple[list[str], dict[str, str]]:
    if engine_answers():
        return list(DOCKER_ARGS), dict(DOCKER_ENV)
    return ["--provider", "local"], {}


def containers_of(run_id: str) -> list[str]:
    try:
        done = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}"],
                              capture_output=True, text=True, timeout=30, check=False,
                              env={**os.environ, **DOCKER_ENV})
    except (OSError, subprocess.TimeoutExpired):
        return []
    return done.stdout.split()


def snapshot(store: ExternalStore) -> dict[str, Any]:
    """What a run may leave behind on the team's stores. The runs' own processes and folders
    (Chromium's profile included) are checked by run id, so another harness run going on on the
    same machine does not disturb the count."""
    return {"databases": store.databases(), "objects": store.objects()}


@pytest.mark.parametrize("phase", list(PHASES))
def test_sigint_and_sigterm_at_every_phase_leave_nothing(
    phase: str, store: ExternalStore, docker_args: tuple[list[str], dict[str, str]],
    tmp_path: Path,
) -> None:
    before = snapshot(store)
    pause = {PAUSE_ENV: phase}
    common = ("run", "--from", "2.9.2", "--to", "3.4.0", "--no-matrix", "--server-workers", "1",
              *PHASES[phase])
    runs = {
        signal.SIGINT: LiveRun(*common, *store.args(), "--out", str(tmp_path / "int"),
                               env={**store.env(), **pause}),
        signal.SIGTERM: LiveRun(*common, *docker_args[0], "--out", str(tmp_path / "term"),
                                env={**docker_args[1], **pause}),
    }
    for run in runs.values():
        run.wait_for(f"paused at {phase}", timeout=600)
    for sig, run in runs.items():
        run.proc.send_signal(sig)
    for sig, run in runs.items():
        seconds = run.finish(timeout=120)
        assert run.proc.returncode == 130, f"{sig.name}: {run.stderr[-3000:]}"
        # Ended by the signal, not by the pause running out (which once hid a lost signal).
        assert "pause ran out" not in run.stderr, f"{sig.name}: {run.stderr[-3000:]}"
        assert "mlflow-upgrade-harness: interrupted" in run.stderr or \
            "interrupted (Ctrl-C or SIGTERM)" in run.stderr, run.stderr[-2000:]
        assert containers_of(run.run_id) == []
        assert harness_processes(run.run_id) == set()
        assert run_folders(run.run_id) == set()
        results = run.out / "results.json"
        if phase != "reports":  # stopped before the reports are written, by design
            assert json.loads(results.read_text())["status"] == "interrupted"
        assert seconds < 660
    assert snapshot(store) == before
