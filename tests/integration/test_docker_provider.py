"""The docker provider for real: PostgreSQL and S3 in containers of the run (testcontainers),
MLflow servers of both versions over them; and a killed run's containers swept by the next run.

CI starts its own dockerd and builds stand-in images (`source .ci/docker.sh up`), since no
registry is reachable; it exports the engine's address in HARNESS_TEST_DOCKER_HOST (only these
tests use it) and the images in HARNESS_DOCKER_POSTGRES_IMAGE and HARNESS_DOCKER_S3_IMAGE.
Elsewhere DOCKER_HOST (or the default socket) and the official images are used. With no
engine, these tests are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.services.docker_engine import (
    PID_LABEL,
    RUN_LABEL,
    docker_engine_available,
    engine_address,
)
from tests.integration.conftest import harness_cmd, harness_processes, run_cli, run_folders

pytestmark = pytest.mark.integration
POSTGRES_IMAGE = os.environ.get("HARNESS_DOCKER_POSTGRES_IMAGE", "postgres:16")
S3_IMAGE = os.environ.get("HARNESS_DOCKER_S3_IMAGE", "minio/minio:latest")
DOCKER_ARGS = ("--provider", "docker", "--postgres-image", POSTGRES_IMAGE,
               "--s3-image", S3_IMAGE)
WAIT_S = 180.0
ENGINE = os.environ.get("HARNESS_TEST_DOCKER_HOST") or os.environ.get("DOCKER_HOST", "")
ENV = {"DOCKER_HOST": ENGINE} if ENGINE else {}


def engine_answers() -> bool:
    """Whether the tests' Docker engine (HARNESS_TEST_DOCKER_HOST, else DOCKER_HOST) answers."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENV.items():
            patch.setenv(name, value)
        return docker_engine_available()


def skip_without_engine() -> None:
    if not engine_answers():
        pytest.skip(f"no Docker engine answers at {ENV.get('DOCKER_HOST') or engine_address()} "
                    "(CI starts one with `source .ci/docker.sh up`)")


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    docker = pytest.importorskip("docker", reason="the docker extra is not installed")
    skip_without_engine()
    client = docker.from_env(timeout=30, environment={**os.environ, **ENV})
    yield client
    client.close()


def containers(client: Any, label: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": label}))


def test_foundation_scenarios_on_the_docker_provider(docker_client: Any, tmp_path: Path) -> None:
    run = run_cli("run", "--from", "2.9.2", "--to", "3.4.0", "--quiet", "--no-bench",
                  "--no-matrix", "-k", "test_tracking or test_registration", *DOCKER_ARGS,
                  "--out", str(tmp_path / "out"), env=ENV)
    assert run.code == 0, run.stderr + run.stdout[-3000:]
    results = json.loads((run.out / "results.json").read_text())
    assert results["services"] == {"provider": "docker", "postgresql": "DockerPostgres",
                                   "s3": "DockerS3"}
    passed = {(c["scenario"], c["side"]) for c in results["checks"] if c["status"] == "passed"}
    assert {("tracking", "from"), ("tracking", "to"), ("registration", "from"),
            ("registration", "to")} <= passed
    # The run's containers are gone, and so are its processes.
    assert containers(docker_client, f"{RUN_LABEL}={results['run_id']}") == []
    assert harness_processes(results["run_id"]) == set()


def test_a_killed_runs_containers_are_removed_by_the_next_run(
    docker_client: Any, tmp_path: Path
) -> None:
    killed = subprocess.Popen(  # noqa: S603
        harness_cmd("run", "--from", "2.9.2", "--to", "2.9.2", "--quiet", "--no-bench",
                    "-k", "test_tracking", *DOCKER_ARGS, "--out", str(tmp_path / "killed")),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, **ENV})
    label = f"{PID_LABEL}={killed.pid}"
    deadline = time.monotonic() + WAIT_S
    try:
        while len(containers(docker_client, label)) < 2 and time.monotonic() < deadline:
            assert killed.poll() is None, "the run ended before its containers started"
            time.sleep(0.5)
        left = containers(docker_client, label)
        assert len(left) == 2, "PostgreSQL and S3 containers did not start"
        run_id = left[0].labels[RUN_LABEL]
    finally:
        killed.send_signal(signal.SIGKILL)  # no teardown at all
        killed.wait(timeout=30)
    for pid, _ in harness_processes(run_id):  # its local processes: not this test's subject
        os.kill(pid, signal.SIGKILL)
    for folder in run_folders(run_id):  # nor its temp folder, which a SIGKILL leaves
        shutil.rmtree(folder, ignore_errors=True)
    assert len(containers(docker_client, label)) == 2  # left behind

    next_run = run_cli("run", "--from", "2.9.2", "--to", "2.9.2", "--no-bench",
                       "-k", "test_tracking", *DOCKER_ARGS, "--out", str(tmp_path / "next"),
                       env=ENV)
    assert next_run.code == 0, next_run.stderr
    assert "removed 2 container(s) left by killed runs" in next_run.stdout + next_run.stderr
    assert containers(docker_client, f"{RUN_LABEL}={run_id}") == []
