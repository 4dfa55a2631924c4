"""Faults during a run: each becomes failed checks carrying the culprit's logs, within a bound,
and the report is still written. The faults come from outside, as in life: a server killed or
frozen, PostgreSQL killed, the S3 bucket gone under the servers.

Each fault is applied as soon as the scenarios phase starts, so several scenarios meet it: model
lookup, registration and tracking (artifacts too, for the S3 fault), on both versions.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from harness.lanes import lanes_of
from harness.runtime.ports import free_port
from harness.services.s3 import s3_client
from harness.watchdog import HEALTH_GRACE_S
from tests.integration.conftest import harness_processes, run_folders
from tests.integration.external_store import ExternalStore, external_store
from tests.integration.live_run import LiveRun, group_of, process_logging_to

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCENARIOS = "test_model_lookup or test_registration or test_tracking"
BOUND_S = 300.0  # start-up (~30 s) + scenarios + teardown, with every fault


def start(tmp_path: Path, *extra: str, env: dict[str, str] | None = None,
          scenarios: str = SCENARIOS) -> tuple[LiveRun, int]:
    to_port = free_port()
    run = LiveRun("run", "--from", "2.9.2", "--to", "3.4.0", "--no-bench", "--no-matrix",
                  "-k", scenarios, "--to-port", str(to_port), "--out", str(tmp_path / "out"),
                  *extra, env=env)
    run.wait_for("… scenarios")
    return run, to_port


def finished(run: LiveRun) -> dict[str, Any]:
    seconds = run.finish(BOUND_S)
    assert run.proc.returncode == 1, run.stderr[-3000:]
    assert seconds < BOUND_S
    assert (run.out / "report.md").exists() and (run.out / "report.html").exists()
    assert harness_processes(run.run_id) == set()
    results: dict[str, Any] = json.loads((run.out / "results.json").read_text())
    assert results["status"] == "failed"
    return results


def checks(results: dict[str, Any], side: str) -> dict[str, dict[str, Any]]:
    return {c["test"]: c for c in results["checks"] if c["side"] == side}


def test_a_server_that_crashes_mid_run(tmp_path: Path) -> None:
    run, port = start(tmp_path, "--provider", "local")
    server = group_of(run.run_id, "mlflow", "server", f"--port {port}")
    os.killpg(server, signal.SIGKILL)
    results = finished(run)
    new = checks(results, "to")
    failed = [c for c in new.values() if c["status"] in ("failed", "error")]
    assert len(failed) >= 3, new
    gated = [c for c in failed if "is not running (it exited or was stopped)" in c["message"]]
    assert gated and all(c["duration_s"] < 10 for c in gated)
    assert all(c["logs"].get("server to 3.4.0") for c in failed)  # the culprit's log
    old = checks(results, "from")
    assert old and all(c["status"] in ("passed", "known_defect") for c in old.values())
    assert "mlflow server to-3.4.0 is not running" in (run.out / "report.md").read_text()
    assert run_folders(run.run_id) == set()


def test_a_server_that_freezes_mid_run(tmp_path: Path) -> None:
    run, port = start(tmp_path, "--provider", "local")
    server = group_of(run.run_id, "mlflow", "server", f"--port {port}")
    os.killpg(server, signal.SIGSTOP)  # frozen: connections are accepted, nothing answers
    results = finished(run)
    new = [c for c in checks(results, "to").values() if c["status"] in ("failed", "error")]
    gated = [c for c in new if "does not answer /health within 5s" in c["message"]]
    assert len(gated) >= 3, new
    # The first gate in each lane that meets the frozen server waits out the grace a live
    # process gets (a supervisor replacing workers); the lane remembers it, the rest fail fast.
    graced = [c for c in gated if f"still so after {HEALTH_GRACE_S:g}s" in c["message"]]
    assert 1 <= len(graced) <= len(lanes_of(["from", "to"]))
    assert all(c["duration_s"] < HEALTH_GRACE_S + 15 for c in graced)
    fast = [c for c in gated if c not in graced]
    assert fast and all(c["duration_s"] < 10 for c in fast), new
    assert all(c["logs"].get("server to 3.4.0") for c in new)


def test_a_scenario_that_hangs(tmp_path: Path) -> None:
    run, _ = start(tmp_path, "--provider", "local", "--scenario-timeout", "25")
    client = process_logging_to(run.run_id, "client-to-3.4.0.log")
    os.kill(client, signal.SIGSTOP)  # the new side's MLflow client never answers
    results = finished(run)
    new = checks(results, "to")
    timed_out = [c for c in new.values() if "exceeded its 25s limit (--scenario-timeout)"
                 in c["message"]]
    assert len(timed_out) == 1 and 25 <= timed_out[0]["duration_s"] < 40, new
    assert "client to 3.4.0" in timed_out[0]["logs"]
    # The stuck client was replaced: the scenarios after it ran and passed.
    after = [c for c in new.values() if c is not timed_out[0]]
    assert after and all(c["status"] in ("passed", "known_defect") for c in after), after


def test_postgres_killed_mid_run(tmp_path: Path) -> None:
    run, _ = start(tmp_path, "--provider", "local")
    postgres = group_of(run.run_id, "postgres", "-D")
    os.killpg(postgres, signal.SIGKILL)
    results = finished(run)
    broken = [c for c in results["checks"] if c["status"] in ("failed", "error")]
    assert {c["side"] for c in broken} == {"from", "to"}
    assert any("PostgreSQL (LocalPostgres) is not running any more" in c["message"]
               for c in broken)
    assert all("postgresql" in c["logs"] for c in broken if "not running" in c["message"])


@pytest.fixture(scope="module")
def store() -> Any:
    with external_store() as started:
        yield started


def test_s3_errors_mid_run(store: ExternalStore, tmp_path: Path) -> None:
    bucket = f"doomed-{free_port()}"
    run, _ = start(tmp_path, *store.args(bucket=bucket), env=store.env(),
                   scenarios="test_artifacts or test_tracking")
    client = s3_client(store.s3.location)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)  # every artifact write now fails with NoSuchBucket
    results = finished(run)
    artifacts = [c for c in results["checks"] if c["scenario"] == "artifacts"]
    assert artifacts and all(c["status"] in ("failed", "error") for c in artifacts)
    assert any("NoSuchBucket" in " ".join(c["logs"].values()) + c["message"] + c["details"]
               for c in artifacts)
    tracking = [c for c in results["checks"] if c["scenario"] == "tracking"]
    assert tracking and all(c["status"] == "passed" for c in tracking)  # S3 not needed there
