"""`--to-image`: the new side's MLflow server (and its `mlflow db upgrade`) from a team's image.

The image is a stand-in built here (tests/integration/mlflow_image.py) on the engine CI starts
with `source .ci/docker.sh up`; with no engine, or no base image to build from, these tests skip
and say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.services.docker_engine import RUN_LABEL
from tests.integration.conftest import CliRun, harness_processes, run_cli
from tests.integration.mlflow_image import BASE_IMAGE, build_mlflow_image, image_exists
from tests.integration.test_docker_provider import DOCKER_ARGS, ENV, skip_without_engine

pytestmark = pytest.mark.integration
NEW = "3.4.0"


@pytest.fixture(scope="module")
def new_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    skip_without_engine()
    if not image_exists(BASE_IMAGE, {**os.environ, **ENV}):
        pytest.skip(f"{BASE_IMAGE} is missing: `source .ci/docker.sh up` imports it")
    return build_mlflow_image(NEW, {**os.environ, **ENV}, tmp_path_factory.mktemp("image-logs"))


class ContainerWatch:
    """Names of the harness's containers seen while a run goes on (`docker ps`, twice a second)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            done = subprocess.run(
                ["docker", "ps", "--filter", f"label={RUN_LABEL}", "--format", "{{.Names}}"],
                capture_output=True, text=True, timeout=30, env={**os.environ, **ENV},
                check=False)
            self.names.update(done.stdout.split())

    def __enter__(self) -> ContainerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=40)


def run_labelled(run_id: str) -> list[str]:
    done = subprocess.run(["docker", "ps", "-a", "--filter", f"label={RUN_LABEL}={run_id}",
                           "--format", "{{.Names}}"], capture_output=True, text=True,
                          timeout=30, env={**os.environ, **ENV}, check=True)
    return done.stdout.split()


@pytest.fixture(scope="module")
def imaged_run(
    new_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CliRun, set[str]]]:
    out = tmp_path_factory.mktemp("imaged") / "out"
    with ContainerWatch() as watch:
        run = run_cli("run", "--from", "2.9.2", "--to", NEW, "--to-image", new_image,
                      "--quiet", "--no-bench", "--no-matrix",
                      "-k", "test_tracking or test_registration or test_migration",
                      *DOCKER_ARGS, "--out", str(out), env=ENV)
    yield run, watch.names


def test_the_new_server_and_its_schema_upgrade_run_from_the_image(
    imaged_run: tuple[CliRun, set[str]], new_image: str
) -> None:
    run, seen = imaged_run
    assert run.code == 0, run.stderr + run.stdout[-3000:]
    results = json.loads((run.out / "results.json").read_text())
    sides = {s["role"]: s for s in results["sides"]}
    assert sides["to"]["server_image"] == new_image and sides["to"]["mlflow_version"] == NEW
    assert sides["from"]["server_image"] == ""
    run_id = results["run_id"]
    # Seen while the run went on: the tracking server, the drill's servers and `db upgrade`
    # of the new side in containers of the run; nothing of the old side.
    assert any(n.startswith(f"muh-{run_id}-to-{NEW}") for n in seen), seen
    assert any(n.startswith(f"muh-{run_id}-db-upgrade") for n in seen), seen
    assert not any("from-2.9.2" in n for n in seen), seen
    passed = {(c["scenario"], c["side"]) for c in results["checks"] if c["status"] == "passed"}
    assert {("tracking", "to"), ("registration", "to")} <= passed
    migration = [c for c in results["checks"] if c["scenario"] == "migration"]
    assert migration and all(c["status"] in ("passed", "known_defect") for c in migration)
    report = (run.out / "report.md").read_text()
    assert f"(server: image `{new_image}`)" in report
    assert run_labelled(run_id) == [] and harness_processes(run_id) == set()


def test_an_image_of_another_version_is_refused_in_one_line(
    new_image: str, tmp_path: Path
) -> None:
    run = run_cli("run", "--from", "2.9.2", "--to", NEW, "--from-image", new_image, "--quiet",
                  "--no-bench", "-k", "test_tracking", *DOCKER_ARGS,
                  "--out", str(tmp_path / "out"), env=ENV)
    assert run.code == 2
    lines = run.stderr.strip().splitlines()
    assert lines == [f"mlflow-upgrade-harness: --from-image {new_image} has mlflow {NEW}, but "
                     "--from is 2.9.2 (mlflow 2.9.2): give the image's version"], run.stderr
    run_id = json.loads((run.out / "results.json").read_text())["run_id"]
    assert run_labelled(run_id) == [] and harness_processes(run_id) == set()
