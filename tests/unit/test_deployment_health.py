"""A server's health under the run: worker restarts read from its log, periods /health did not
answer, the finding's cause and remedy, and which failed checks they touched."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.deploy.health import (
    ServerMonitor,
    ServerWatch,
    WorkerRestart,
    answers_again,
    restarts_in,
)
from harness.deploy.rerun import cause, remedy, touched
from harness.deploy.result import HealthFinding, Rerun
from harness.results.model import CheckResult, Status
from harness.runtime.quiet_http import QuietHTTPServer

UVICORN = """\
2026/12/02 20:01:43 INFO:     Waiting for child process [3069]
2026/12/02 20:01:43 INFO:     Child process [3069] died
2026/12/02 20:01:44 INFO:     127.0.0.1:48784 - "GET /health HTTP/1.1" 200 OK
"""
GUNICORN = """\
[2026-12-02 20:01:43 +0000] [812] [CRITICAL] WORKER TIMEOUT (pid:900)
[2026-12-02 20:01:44 +0000] [812] [ERROR] Worker (pid:900) was sent SIGKILL! Perhaps out of memory?
[2026-12-02 20:01:44 +0000] [812] [ERROR] Worker (pid:901) was sent SIGKILL! Perhaps out of memory?
[2026-12-02 20:01:45 +0000] [950] [INFO] Booting worker with pid: 950
"""


def test_worker_restarts_are_read_from_uvicorn_and_gunicorn_logs() -> None:
    [died] = restarts_in(UVICORN, 1.0)
    assert (died.pid, died.kind) == (3069, "died") and "Child process [3069] died" in died.line
    found = restarts_in(GUNICORN, 2.0)
    assert [(r.pid, r.kind) for r in found] == [(900, "timeout"), (901, "signal")]
    assert restarts_in("INFO: Started server process [12]\n", 0.0) == []


@pytest.fixture
def health() -> Iterator[SimpleNamespace]:
    state = SimpleNamespace(status=200, port=0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = QuietHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def test_the_monitor_sees_restarts_and_unanswered_periods(tmp_path: Path,
                                                          health: SimpleNamespace) -> None:
    log = tmp_path / "server.log"
    log.write_text("Child process [1] died\n")  # before the run: start-up is not counted
    server: Any = SimpleNamespace(name="mlflow server to-3.17.2", log_path=log,
                                  port=health.port, health_path="/health", _process=None,
                                  alive=lambda: True)
    monitor = ServerMonitor(server, poll_s=0.05).start()
    try:
        with log.open("a") as handle:
            handle.write(UVICORN + "Child process [3070] di")  # a line still being written
        health.status = 503
        time.sleep(0.4)
        health.status = 200
        time.sleep(0.3)
    finally:
        monitor.stop()
    seen = monitor.watch()
    assert [r.pid for r in seen.restarts] == [3069]
    assert len(seen.unanswered) == 1 and seen.unanswered[0][1] > seen.unanswered[0][0]
    assert seen.troubled and seen.answering and seen.max_load >= 0


def test_a_server_still_down_at_the_end_and_one_that_answers_again(
        tmp_path: Path, health: SimpleNamespace) -> None:
    server: Any = SimpleNamespace(name="s", log_path=tmp_path / "none.log", port=health.port,
                                  health_path="/health", alive=lambda: True)
    monitor = ServerMonitor(server, poll_s=0.05).start()
    health.status = 503
    time.sleep(0.3)
    monitor.stop()
    seen = monitor.watch()
    assert not seen.answering and seen.unanswered and seen.unanswered[-1][1] >= \
        seen.unanswered[-1][0]
    assert not answers_again(server, within_s=0.5)  # frozen: never
    threading.Timer(0.5, lambda: setattr(health, "status", 200)).start()
    assert answers_again(server, within_s=10)  # its supervisor replaced the workers


def _check(test: str, side: str, status: Status, message: str) -> CheckResult:
    return CheckResult(scenario=test.split("::")[0], test=test, side=side,
                       mlflow_version="3.17.2", status=status, duration_s=1.0, message=message)


def test_the_checks_a_troubled_server_touched() -> None:
    checks = [
        _check("tracking::a[to]", "to", Status.FAILED, "ClientCallError: roundtrip: "
               "MlflowException: API request failed: Max retries exceeded with url"),
        _check("registration::b[to]", "to", Status.ERROR, "InfrastructureDown: mlflow server "
               "to-3.17.2 does not answer /health within 5s"),
        _check("registration::p[to]", "to", Status.ERROR, "InfrastructureDown: PostgreSQL "
               "(LocalPostgres) is not running any more"),
        _check("tracking::c[to]", "to", Status.FAILED, "AssertionError: 3 != 4"),
        _check("tracking::a[from]", "from", Status.FAILED, "Connection reset by peer"),
        _check("tracking::a[from_on_to]", "from_on_to", Status.FAILED,
               "RemoteDisconnected('Remote end closed connection without response')"),
        _check("basic_auth::m[cross]", "cross", Status.FAILED, "503 Service Unavailable"),
        _check("tracking::d[to]", "to", Status.PASSED, ""),
    ]
    assert [c.test for c in touched(checks, "to")] == [
        "tracking::a[to]", "registration::b[to]", "tracking::a[from_on_to]",
        "basic_auth::m[cross]"]


def test_cause_and_remedy_follow_the_log_and_the_set_up(tmp_path: Path) -> None:
    died = ServerWatch("s", [WorkerRestart(1.0, 9, "died", "Child process [9] died")],
                       max_load=5.1)
    said = cause(died, "uvicorn", 4, 2)
    assert "uvicorn's supervisor replaced workers" in said and "4 worker(s) on 2 CPU(s)" in said
    assert "more workers than a busy machine can serve" in said
    killed = ServerWatch("s", [WorkerRestart(1.0, 9, "signal", "was sent SIGKILL!")])
    assert "OOM killer" in cause(killed, "gunicorn", 2, 2)
    assert "starved" in cause(ServerWatch("s", unanswered=[(1.0, 9.0)]), "uvicorn", 1, 2)
    env = tmp_path / "env"
    main = env / "lib/python3.11/site-packages/uvicorn/main.py"
    main.parent.mkdir(parents=True)
    main.write_text('@click.option("--timeout-worker-healthcheck", type=int)\n')
    side: Any = SimpleNamespace(config=SimpleNamespace(image=None), env=SimpleNamespace(path=env))
    assert remedy("uvicorn", 4, 2, side) == ["--workers", "1", "--uvicorn-opts",
                                             "--timeout-worker-healthcheck 30"]
    main.write_text("# an older uvicorn\n")
    assert remedy("uvicorn", 4, 8, side) == ["--workers", "4"]
    assert remedy("gunicorn", 4, 2, side) == ["--workers", "1", "--gunicorn-opts",
                                              "--timeout 120"]


def test_one_finding_says_what_happened_and_what_the_remedy_did() -> None:
    finding = HealthFinding(
        role="to", server="mlflow server to-3.17.2", version="3.17.2",
        restarts=["Child process [1] died", "Child process [2] died"],
        unanswered=[[10.0, 22.0]], cause="uvicorn's supervisor replaced workers",
        remedy=["--workers", "1", "--uvicorn-opts", "--timeout-worker-healthcheck 30"],
        reruns=[Rerun("tracking::a[to]", "to", "failed: Max retries", "passed"),
                Rerun("registration::b[to]", "to", "error: InfrastructureDown", "passed")])
    assert finding.line() == (
        "mlflow server to-3.17.2 (3.17.2) had 2 worker restart(s) and 1 period(s) without an "
        "answer on /health (12s) during the scenarios: uvicorn's supervisor replaced workers; "
        "remedy: `--workers 1 --uvicorn-opts '--timeout-worker-healthcheck 30'`; 2 check(s) they "
        "touched re-run with it: 2 passed")
