"""The harness's own guards: bad infrastructure is one line and exit 2; the watchdog bounds a
scenario; pause points; the run's S3 namespace on a user's store."""

from __future__ import annotations

import http.server
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness.session as session_module
from harness import watchdog
from harness.cli import main
from harness.envs.builder import MlflowEnv
from harness.errors import Cancelled, ProviderUnavailable
from harness.faults import PAUSE_ENV, pause_point
from harness.runtime.ports import free_port
from harness.runtime.processes import REGISTRY, spawn
from harness.runtime.quiet_http import QuietHTTPServer
from harness.services import postgres_local
from harness.services.base import S3Location
from harness.services.mlflow_command import MlflowCommand
from harness.services.mlflow_server import MlflowServer, ServerSpec
from harness.watchdog import ScenarioTimeout, scenario_deadline, server_problem


@pytest.fixture
def instant_envs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Environments that exist at once, so a run gets straight to the services under test."""

    def fake(request: object, cache_dir: Path, log_dir: Path) -> MlflowEnv:
        return MlflowEnv(tmp_path, "f" * 16, "2.9.2", {}, 0.0, True)

    monkeypatch.setattr(session_module, "ensure_env", fake)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


def test_unreachable_external_postgres_is_one_line(
    instant_envs: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    port = free_port()
    began = time.monotonic()
    code, err = _run(capsys, "run", "--from", "2.9.2", "--to", "2.9.2", "--quiet",
                     "--provider", "external", "--postgres-dsn",
                     f"postgresql://team:pw-never-shown@127.0.0.1:{port}/postgres",
                     "--s3-endpoint", f"http://127.0.0.1:{free_port()}",
                     "--out", str(tmp_path / "o"))
    assert code == 2 and time.monotonic() - began < 60
    assert len(err) == 1 and err[0].startswith(
        f"mlflow-upgrade-harness: cannot connect to PostgreSQL at 127.0.0.1:{port}"), err
    assert "pw-never-shown" not in err[0]
    assert "pw-never-shown" not in (tmp_path / "o" / "results.json").read_text()


def test_unreachable_external_s3_is_one_line(
    instant_envs: None, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.services import postgres_external

    monkeypatch.setattr(postgres_external.ExternalPostgres, "start", lambda self: self)
    port = free_port()
    code, err = _run(capsys, "run", "--from", "2.9.2", "--to", "2.9.2", "--quiet",
                     "--provider", "external", "--postgres-dsn", "postgresql://u:p@127.0.0.1/x",
                     "--s3-endpoint", f"http://127.0.0.1:{port}", "--out", str(tmp_path / "o"))
    assert code == 2
    assert len(err) == 1 and err[0].startswith(
        f"mlflow-upgrade-harness: S3 endpoint http://127.0.0.1:{port} is not reachable: "), err


def test_no_postgres_binaries_and_no_wheel_is_one_line(
    instant_envs: None, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(postgres_local.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres_local.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(postgres_local, "_has_server", lambda path: False)
    with pytest.raises(ProviderUnavailable, match="no PostgreSQL server binaries found"):
        postgres_local.find_binaries()
    code, err = _run(capsys, "run", "--from", "2.9.2", "--to", "2.9.2", "--quiet",
                     "--provider", "local", "--out", str(tmp_path / "o"))
    assert code == 2 and len(err) == 1
    assert "no PostgreSQL server binaries found" in err[0] and "apt-get install" in err[0]


def test_docker_provider_without_engine_is_one_line(
    instant_envs: None, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    code, err = _run(capsys, "run", "--from", "2.9.2", "--to", "2.9.2", "--quiet",
                     "--provider", "docker", "--out", str(tmp_path / "o"))
    assert code == 2 and len(err) == 1 and "no Docker engine answers" in err[0], err


def test_scenario_deadline_interrupts_a_blocking_wait() -> None:
    began = time.monotonic()
    with pytest.raises(ScenarioTimeout, match="stuck exceeded its 0.3s limit"):
        with scenario_deadline(0.3, "stuck"):
            threading.Event().wait(30)
    assert time.monotonic() - began < 5
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # disarmed afterwards


def test_scenario_deadline_is_off_outside_the_main_thread() -> None:
    seen: list[str] = []

    def work() -> None:
        with scenario_deadline(0.1, "in a thread"):
            time.sleep(0.3)
        seen.append("finished")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(5)
    assert seen == ["finished"]


@dataclass
class HealthEndpoint:
    """A /health endpoint whose status code the test sets, counting the requests it gets."""

    port: int
    status: int = 200
    requests: int = 0


@pytest.fixture
def health_server() -> Iterator[HealthEndpoint]:
    endpoint = HealthEndpoint(port=0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            endpoint.requests += 1
            self.send_response(endpoint.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = QuietHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield endpoint
    server.shutdown()
    server.server_close()


@pytest.fixture
def live_server(tmp_path: Path, health_server: HealthEndpoint) -> Iterator[MlflowServer]:
    """An MlflowServer whose process is a sleeper and whose /health is `health_server`."""
    watchdog._declared_down.clear()
    server = MlflowServer("to-3.4.0", MlflowCommand(tmp_path), ServerSpec(
        "postgresql://x", S3Location("http://127.0.0.1:9", "a", "b", "c"), "p"), tmp_path)
    server._process = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                            tmp_path / "sleep.log")
    server.port = health_server.port
    yield server
    server._process.stop(grace_seconds=1)
    watchdog._declared_down.clear()


def test_server_problem_sees_exit_a_frozen_server_and_bad_health(
    tmp_path: Path, health_server: HealthEndpoint, live_server: MlflowServer
) -> None:
    gone = MlflowServer("to-3.4.0", MlflowCommand(tmp_path), ServerSpec(
        "postgresql://x", S3Location("http://127.0.0.1:9", "a", "b", "c"), "p"), tmp_path)
    assert server_problem(gone) == "mlflow server to-3.4.0 is not running (it exited or was " \
                                   "stopped)"
    assert server_problem(live_server) is None
    health_server.status = 503
    assert server_problem(live_server, grace_s=0) == \
        "mlflow server to-3.4.0 answers /health with HTTP 503"
    import socket

    with socket.socket() as frozen:  # accepts connections, never answers: a frozen server
        frozen.bind(("127.0.0.1", free_port()))
        frozen.listen()
        live_server.port = frozen.getsockname()[1]
        began = time.monotonic()
        problem = server_problem(live_server, grace_s=0)
        assert problem is not None and "does not answer /health within 5s" in problem
        assert time.monotonic() - began < 10


def test_a_live_server_gets_a_grace_to_answer_again(
    health_server: HealthEndpoint, live_server: MlflowServer
) -> None:
    """A supervisor replacing workers: /health fails for a while, the process lives on."""
    health_server.status = 503
    threading.Timer(1.5, lambda: setattr(health_server, "status", 200)).start()
    assert server_problem(live_server, grace_s=30) is None
    assert health_server.requests >= 2, "asked again, not declared down at the first miss"


def test_a_server_declared_down_gets_one_try_until_it_answers(
    health_server: HealthEndpoint, live_server: MlflowServer
) -> None:
    health_server.status = 503
    first = server_problem(live_server, grace_s=1.5)
    assert first == "mlflow server to-3.4.0 answers /health with HTTP 503; still so after " \
                    "1.5s while its process ran"
    asked = health_server.requests
    assert asked >= 2
    assert server_problem(live_server, grace_s=30) == \
        "mlflow server to-3.4.0 answers /health with HTTP 503"
    assert health_server.requests == asked + 1, "a server declared down is asked once"
    health_server.status = 200
    assert server_problem(live_server) is None  # back: forgotten as down
    health_server.status = 503
    assert server_problem(live_server, grace_s=1.5) == first


def test_a_server_that_exits_during_its_grace_is_not_running(
    health_server: HealthEndpoint, live_server: MlflowServer
) -> None:
    health_server.status = 503
    process = live_server._process
    assert process is not None
    threading.Timer(0.5, lambda: process.stop(grace_seconds=1)).start()
    assert server_problem(live_server, grace_s=30) == \
        "mlflow server to-3.4.0 is not running (it exited or was stopped)"


def test_a_cancelled_run_ends_the_grace(
    health_server: HealthEndpoint, live_server: MlflowServer
) -> None:
    health_server.status = 503
    REGISTRY.reset()
    threading.Timer(0.5, REGISTRY.cancelled.set).start()
    try:
        problem = server_problem(live_server, grace_s=60)
    finally:
        REGISTRY.reset()
    assert problem is not None and "HTTP 503" in problem
    assert health_server.requests < 10


def test_pause_point_waits_only_where_asked_and_ends_on_cancel(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PAUSE_ENV, "scenarios,migration")
    pause_point("start mlflow 3.4.0 server")  # not asked: returns at once
    REGISTRY.reset()
    timer = threading.Timer(0.2, REGISTRY.cancelled.set)
    timer.start()
    began = time.monotonic()
    with pytest.raises(Cancelled):
        pause_point("scenarios")
    assert time.monotonic() - began < 5
    assert capfd.readouterr().err == "paused at scenarios\n"
    REGISTRY.reset()


def test_a_cancel_right_after_the_pause_line_ends_a_workers_pause(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The CI failure: the test signals on reading `paused at`; the run's main thread set the
    cancel flag before the pausing worker had looked at it, and the worker took the flag for
    one set before the pause, so it slept out PAUSE_SECONDS."""
    from types import SimpleNamespace

    from harness import faults

    def write_then_cancel(fd: int, data: bytes) -> int:
        written = os.write(fd, data)
        REGISTRY.cancelled.set()  # the signal, handled the moment the line is out
        return written

    monkeypatch.setenv(PAUSE_ENV, "environment from")
    monkeypatch.setattr(faults, "PAUSE_SECONDS", 3.0)
    monkeypatch.setattr(faults, "os", SimpleNamespace(environ=os.environ, write=write_then_cancel))
    outcomes: list[str] = []

    def worker(name: str) -> None:
        try:
            pause_point(name)
            outcomes.append("slept out the pause")
        except Cancelled:
            outcomes.append("cancelled")

    REGISTRY.reset()
    try:
        for before in (False, True):  # flag set by the signal / already set when it began
            if before:
                REGISTRY.cancelled.set()
            thread = threading.Thread(target=worker, args=("environment from = 2.9.2",))
            thread.start()
            thread.join(30)
    finally:
        REGISTRY.reset()
    assert outcomes == ["cancelled", "cancelled"]
    assert capfd.readouterr().err == "paused at environment from = 2.9.2\n"


def test_the_runs_keys_live_under_its_namespace() -> None:
    plain = S3Location("http://s3", "a", "b", "bucket")
    spaced = S3Location("http://s3", "a", "b", "bucket", namespace="mlflow-upgrade-harness/r1")
    assert plain.uri("to-artifacts") == "s3://bucket/to-artifacts"
    assert spaced.uri("to-artifacts") == "s3://bucket/mlflow-upgrade-harness/r1/to-artifacts"
    assert spaced.key("/migration-artifacts/") == "mlflow-upgrade-harness/r1/migration-artifacts"


def test_s3_that_refuses_our_credentials_is_one_clear_error() -> None:
    from harness.errors import ServiceError
    from harness.services.s3 import bucket_exists

    class Forbidden(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = QuietHTTPServer(("127.0.0.1", 0), Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        location = S3Location(f"http://127.0.0.1:{server.server_address[1]}", "id",
                              "wrong-secret", "team-bucket")
        with pytest.raises(ServiceError, match="bucket 'team-bucket' at .* is not usable: .*403"):
            bucket_exists(location)
    finally:
        server.shutdown()
        server.server_close()
