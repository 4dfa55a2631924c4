"""A server's workers killed on purpose while the scenarios run: uvicorn's supervisor replaces
them ("Child process [N] died") and, for as long as none lives, the server does not answer.
The run reports it as one finding (cause, remedy), re-runs the checks it touched once against
a server started with the remedy, and they pass: no check is left failed or errored by it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.runtime.ports import free_port
from harness.runtime.processes import processes_of
from tests.integration.conftest import NEW, OLD, harness_processes
from tests.integration.live_run import LiveRun

pytestmark = [pytest.mark.integration]
SCENARIOS = "test_tracking or test_registration or test_model_lookup"
KILL_FOR_S = 40.0  # longer than the health gate's grace (20 s): checks meet a dead server
BOUND_S = 600.0


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _workers(run_id: str, port: int) -> list[int]:
    """The uvicorn workers of the server on `port` (not its resource tracker)."""
    processes = processes_of(run_id)
    supervisors = {pid for pid, cmd in processes.items()
                   if "uvicorn" in cmd and f"--port {port}" in cmd}
    return [pid for pid, cmd in processes.items()
            if "spawn_main" in cmd and _parent(pid) in supervisors]


def _kill_workers(run_id: str, port: int, seconds: float, killed: list[int]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in _workers(run_id, port):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
        time.sleep(0.5)


def test_killed_workers_are_one_finding_and_the_checks_they_touched_pass_again(
        tmp_path: Path) -> None:
    port = free_port()
    run = LiveRun("run", "--from", OLD, "--to", NEW, "--provider", "local", "--no-bench",
                  "--no-matrix", "-k", SCENARIOS, "--to-port", str(port),
                  "--out", str(tmp_path / "out"))
    run.wait_for("… scenarios")
    killed: list[int] = []
    killer = threading.Thread(target=_kill_workers, args=(run.run_id, port, KILL_FOR_S, killed))
    killer.start()
    seconds = run.finish(BOUND_S)
    killer.join()
    assert killed, "no worker of the new server was found to kill"
    results: dict[str, Any] = json.loads((run.out / "results.json").read_text())
    assert harness_processes(results["run_id"]) == set()

    findings = results["deployment"]["health"]
    [finding] = [f for f in findings if f["role"] == "to"]  # one finding, whatever the count
    assert finding["restart_count"] >= 2 and all("Child process" in line
                                                 for line in finding["restarts"])
    assert "uvicorn's supervisor replaced workers" in finding["cause"]
    assert finding["remedy"][:2] == ["--workers", "1"]
    reruns = finding["reruns"]
    assert reruns and all(r["after"] == "passed" for r in reruns), reruns
    assert all(r["before"].startswith(("failed", "error")) for r in reruns)
    # the checks it touched hold their re-run's result: nothing is left failed or errored
    left = [(c["test"], c["side"], c["message"][:200]) for c in results["checks"]
            if c["status"] in ("failed", "error")]
    assert not left, left
    verdict = results["verdict"]
    assert run.proc.returncode == 0 and verdict["level"] == "safe_with_caveats", verdict
    assert any(reason.startswith(f"mlflow server to-{NEW} ({NEW}) had ")
               and "re-run with it" in reason for reason in verdict["reasons"])
    report = (run.out / "report.md").read_text()
    assert f"Server health: mlflow server to-{NEW}" in report
    assert seconds < BOUND_S
