"""Unit tests for the docker provider: no Docker engine needed (containers are fakes)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import harness.services.docker as dockermod
import harness.services.docker_container as containermod
import harness.services.docker_engine as enginemod
from harness.errors import ProviderUnavailable, ServiceError, UsageError
from harness.runtime.processes import REGISTRY
from harness.runtime.waiting import CallableCheck
from harness.services.pg_admin import PgServer

TC_VARS = ("TESTCONTAINERS_RYUK_DISABLED", "TESTCONTAINERS_CONNECTION_MODE", "TC_HOST")
NO_ENGINE = "unix:///nonexistent/harness-test/docker.sock"
HOST_PORT = 54321


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # setenv first so monkeypatch records the original state and undoes what the code sets.
    for name in (*TC_VARS, "DOCKER_HOST"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    yield
    REGISTRY.reset()


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)


@pytest.fixture
def engine_up(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("testcontainers")
    monkeypatch.setattr(enginemod, "docker_engine_available", lambda timeout=3.0: True)


def _block_modules(monkeypatch: pytest.MonkeyPatch, *tops: str) -> None:
    """Make `import top...` fail as if the package were not installed."""
    for name in list(sys.modules):
        if any(name == top or name.startswith(top + ".") for top in tops):
            monkeypatch.setitem(sys.modules, name, None)
    for top in tops:
        monkeypatch.setitem(sys.modules, top, None)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# --- fakes for the docker SDK and testcontainers -------------------------------------------


class FakeSdkContainer:
    def __init__(self, client: FakeSdkClient, labels: dict[str, str], status: str = "running"):
        self.client = client
        self.labels = labels
        self.status = status
        self.attrs: dict[str, Any] = {"NetworkSettings": {"Ports": {}}, "State": {"ExitCode": 0}}

    def logs(self, tail: int) -> bytes:
        return b"first line\nlast line\n"

    def remove(self, force: bool, v: bool) -> None:
        self.client.items.remove(self)


class FakeSdkClient:
    def __init__(self) -> None:
        self.items: list[FakeSdkContainer] = []
        self.closed = False
        self.containers = self

    def list(self, all: bool, filters: dict[str, str]) -> list[FakeSdkContainer]:
        key, _, value = filters["label"].partition("=")
        return [c for c in self.items if key in c.labels and (not value or c.labels[key] == value)]

    def close(self) -> None:
        self.closed = True


class FakeTcContainer:
    """Stands in for a testcontainers DockerContainer."""

    def __init__(self, client: FakeSdkClient, image: str, labels: dict[str, str], port: int):
        self.client = client
        self.image = image
        self.labels = labels
        self.ports: dict[str, Any] = {str(port): None}
        self.exit_code: int | None = None

    def get_docker_client(self) -> Any:
        return type("TcClient", (), {"client": self.client})()

    def fake_start(self) -> None:
        status = "running" if self.exit_code is None else "exited"
        container = FakeSdkContainer(self.client, self.labels, status)
        container.attrs["State"]["ExitCode"] = self.exit_code or 0
        container.attrs["NetworkSettings"]["Ports"] = {
            f"{key}/tcp": [
                {"HostIp": "0.0.0.0", "HostPort": "1"},
                {"HostIp": binding[0], "HostPort": str(HOST_PORT)},
            ]
            for key, binding in self.ports.items()
        }
        self.client.items.append(container)


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch, engine_up: None) -> dict[str, Any]:
    client = FakeSdkClient()
    made: dict[str, Any] = {"client": client}

    def factory(port: int) -> Any:
        def build(image: str, *args: Any) -> FakeTcContainer:
            container = FakeTcContainer(client, image, args[-1], port)
            made.update(container=container, args=args)
            return container

        return build

    monkeypatch.setattr(dockermod, "_postgres_container", factory(5432))
    monkeypatch.setattr(dockermod, "_minio_container", factory(9000))
    monkeypatch.setattr(dockermod, "_moto_container", factory(5000))
    monkeypatch.setattr(containermod, "_start_without_waits", lambda c: c.fake_start())
    monkeypatch.setattr(dockermod, "READY_TIMEOUT_S", 5.0)
    return made


# --- engine detection and environment ------------------------------------------------------


def test_engine_absent_when_docker_host_points_at_missing_socket(no_engine: None) -> None:
    pytest.importorskip("docker")
    started = time.monotonic()
    assert enginemod.docker_engine_available(timeout=2.0) is False
    assert time.monotonic() - started < 3.0


def test_engine_absent_through_cli_when_sdk_missing(
    no_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _block_modules(monkeypatch, "docker")
    assert enginemod.docker_engine_available(timeout=2.0) is False


def test_engine_probe_is_bounded_when_it_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hang(timeout: float) -> bool:
        release.wait(60)  # far longer than any bound, so a missing one cannot pass
        return True

    monkeypatch.setattr(enginemod, "_ping_engine", hang)
    started = time.monotonic()
    try:
        assert enginemod.docker_engine_available(timeout=0.1) is False
    finally:
        release.set()
    # The bound is 1.1 s; 10 s leaves room for a loaded machine and none for a 60 s hang.
    assert time.monotonic() - started < 10.0


def test_configure_env_sets_defaults_and_keeps_user_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TC_HOST", "127.0.0.2")
    enginemod.configure_testcontainers_env()
    assert os.environ["TESTCONTAINERS_RYUK_DISABLED"] == "true"
    assert os.environ["TESTCONTAINERS_CONNECTION_MODE"] == "docker_host"
    assert os.environ["TC_HOST"] == "127.0.0.2"


def test_import_touches_neither_env_nor_testcontainers() -> None:
    code = (
        "import os, sys\n"
        "sys.modules['testcontainers'] = None\n"
        "sys.modules['docker'] = None\n"
        "import harness.services.docker\n"
        "print(sorted(k for k in os.environ if k in {'TC_HOST', 'TESTCONTAINERS_RYUK_DISABLED',"
        " 'TESTCONTAINERS_CONNECTION_MODE'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in TC_VARS}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_run_labels_name_run_process_and_host() -> None:
    labels = enginemod.run_labels("run1", "postgres-abc")
    assert labels[enginemod.RUN_LABEL] == "run1"
    assert labels[enginemod.PID_LABEL] == str(os.getpid())
    assert labels[enginemod.HOST_LABEL]
    assert labels[enginemod.SERVICE_LABEL] == "postgres-abc"


# --- provider unavailable ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [lambda: dockermod.DockerPostgres("r1"), lambda: dockermod.DockerS3("r1", "b")]
)
def test_missing_testcontainers_is_one_line(monkeypatch: pytest.MonkeyPatch, make: Any) -> None:
    _block_modules(monkeypatch, "testcontainers")
    with pytest.raises(ProviderUnavailable) as caught:
        make()
    message = str(caught.value)
    assert "\n" not in message
    assert "mlflow-upgrade-harness[docker]" in message


@pytest.mark.parametrize(
    "make", [lambda: dockermod.DockerPostgres("r1"), lambda: dockermod.DockerS3("r1", "b")]
)
def test_missing_engine_is_one_line(no_engine: None, make: Any) -> None:
    pytest.importorskip("testcontainers")
    with pytest.raises(ProviderUnavailable) as caught:
        make()
    message = str(caught.value)
    assert "\n" not in message
    assert NO_ENGINE in message
    assert os.environ["TC_HOST"] == "127.0.0.1"


def test_unknown_s3_kind_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        dockermod.DockerS3("r1", "b", kind="ceph")


# --- services over fake containers ---------------------------------------------------------


def test_postgres_start_labels_publishes_on_loopback_and_delegates(
    fake_engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PgServer, "ping", lambda self: True)
    created: list[tuple[str, str | None]] = []
    monkeypatch.setattr(PgServer, "create_database", lambda s, d, t=None: created.append((d, t)))
    pg = dockermod.DockerPostgres("run1", image="postgres:16")
    with pg:
        container = fake_engine["container"]
        assert container.image == "postgres:16"
        assert container.labels[enginemod.RUN_LABEL] == "run1"
        assert container.ports == {"5432": ("127.0.0.1",)}
        assert fake_engine["args"][0] == pg.password
        dsn = pg.create_database("db1", template="tpl")
        assert dsn == f"postgresql://harness:{pg.password}@127.0.0.1:{HOST_PORT}/db1"
        assert created == [("db1", "tpl")]
        assert pg.logs().endswith("last line")
    assert fake_engine["client"].items == []
    assert fake_engine["client"].closed
    pg.stop()  # safe twice
    with pytest.raises(ServiceError):
        pg.dsn("db1")


def test_interrupted_run_removes_the_container(
    fake_engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PgServer, "ping", lambda self: True)
    dockermod.DockerPostgres("run1").start()
    assert len(fake_engine["client"].items) == 1
    REGISTRY.stop_everything()
    assert fake_engine["client"].items == []


def _response(status: int) -> Any:
    import requests

    response = requests.Response()
    response.status_code = status
    return response


def test_a_removal_already_under_way_is_waited_for_not_an_error(
    fake_engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start cancelled mid-way removes its own container; the teardown asking the engine at
    the same moment gets 409 "removal … already in progress": it waits, the run still ends
    as interrupted, not with an error."""
    from docker.errors import APIError

    monkeypatch.setattr(PgServer, "ping", lambda self: True)
    pg = dockermod.DockerPostgres("run1")
    pg.start()
    client = fake_engine["client"]
    (container,) = client.items
    calls: list[str] = []

    def elsewhere(force: bool, v: bool) -> None:
        calls.append("remove")
        threading.Timer(0.3, client.items.remove, (container,)).start()  # the other remover
        raise APIError("409 Client Error: Conflict", response=_response(409),
                       explanation="removal of container x is already in progress")

    container.remove = elsewhere  # type: ignore[method-assign]
    pg.stop()
    assert calls == ["remove"] and client.items == []

    other = APIError("409 Client Error: Conflict", response=_response(409),
                     explanation="container is paused")
    assert not containermod._removal_in_progress(other)


def test_container_that_exits_fails_fast_with_logs(
    fake_engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def exiting(image: str, password: str, labels: dict[str, str]) -> FakeTcContainer:
        container = FakeTcContainer(fake_engine["client"], image, labels, 5432)
        container.exit_code = 3
        return container

    monkeypatch.setattr(dockermod, "_postgres_container", exiting)
    monkeypatch.setattr(PgServer, "ping", lambda self: False)
    pg = dockermod.DockerPostgres("run1")
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        with pg:
            pass
    assert time.monotonic() - started < 3.0
    assert "exited with code 3" in str(caught.value)
    assert "last line" in caught.value.logs
    assert fake_engine["client"].items == []


def test_moto_s3_starts_checks_health_and_creates_bucket(
    fake_engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    buckets: list[Any] = []

    class ReadyCheck:
        def __init__(self, url: str) -> None:
            checked.append(url)

        def ready(self) -> bool:
            return True

        def describe(self) -> str:
            return "ready"

    monkeypatch.setattr(dockermod, "HttpCheck", ReadyCheck)
    monkeypatch.setattr(dockermod, "create_bucket", buckets.append)
    s3 = dockermod.DockerS3("run1", "bucket1", kind="moto")
    with s3:
        assert fake_engine["container"].image == "motoserver/moto:latest"
        assert fake_engine["container"].ports == {"5000": ("127.0.0.1",)}
        assert checked == [f"http://127.0.0.1:{HOST_PORT}/moto-api/"]
        location = s3.location
        assert location.endpoint_url == f"http://127.0.0.1:{HOST_PORT}"
        assert buckets == [location]
    assert fake_engine["client"].items == []
    with pytest.raises(ServiceError):
        _ = s3.location


def test_minio_uses_random_secret_and_health_path(
    fake_engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []

    def http_check(url: str) -> CallableCheck:
        checked.append(url)
        return CallableCheck(lambda: True, url)

    monkeypatch.setattr(dockermod, "create_bucket", lambda location: None)
    monkeypatch.setattr(dockermod, "HttpCheck", http_check)
    with dockermod.DockerS3("run1", "bucket1") as s3:
        assert fake_engine["args"][:2] == (s3.access_key, s3.secret_key)
        assert len(s3.secret_key) >= 16
        assert checked == [f"http://127.0.0.1:{HOST_PORT}/minio/health/live"]


def test_never_started_service_stops_twice_and_has_no_logs(engine_up: None) -> None:
    pg = dockermod.DockerPostgres("run1")
    pg.stop()
    pg.stop()
    assert pg.logs() == ""


def test_loopback_port_ignores_other_addresses() -> None:
    attrs = {"NetworkSettings": {"Ports": {"5432/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9"}]}}}
    assert containermod._loopback_port(attrs, 5432) is None


def test_real_testcontainers_classes_get_labels_loopback_ports_and_no_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tcc = pytest.importorskip("testcontainers.core.container")
    created: dict[str, Any] = {}

    class FakeDockerClient:
        def __init__(self, **kwargs: Any) -> None:
            created["client_kw"] = kwargs
            self.client = None

        def create(self, image: str, **kwargs: Any) -> Any:
            created.update(image=image, **kwargs)
            return type("Created", (), {"short_id": "x", "id": "x"})()

        def start(self, container: Any) -> None:
            created["started"] = True

    monkeypatch.setattr(tcc, "DockerClient", FakeDockerClient)
    enginemod.configure_testcontainers_env()
    labels = {enginemod.RUN_LABEL: "run1"}
    builds: dict[str, Callable[[], Any]] = {
        "5432": lambda: dockermod._postgres_container("postgres:16", "pw", labels),
        "9000": lambda: dockermod._minio_container("minio/minio:x", "ak", "secret123", labels),
        "5000": lambda: dockermod._moto_container("motoserver/moto:x", labels),
    }
    for port, build in builds.items():
        created.clear()
        container = build()
        containermod._publish_on_loopback(container)
        containermod._start_without_waits(container)
        assert created["started"]
        assert created["client_kw"] == {"timeout": dockermod.DOCKER_API_TIMEOUT_S}
        assert created["ports"] == {port: ("127.0.0.1",)}
        assert created["labels"] == labels
    assert created["command"] == "-H 0.0.0.0 -p 5000"


# --- sweeping stale containers -------------------------------------------------------------


def test_is_stale_needs_other_run_this_host_and_dead_owner() -> None:
    host, dead = "box", str(_dead_pid())

    def labels(run: str, pid: str, hostname: str = host) -> dict[str, str]:
        return {
            enginemod.RUN_LABEL: run,
            enginemod.PID_LABEL: pid,
            enginemod.HOST_LABEL: hostname,
        }

    assert enginemod.is_stale(labels("old", dead), "now", host)
    assert not enginemod.is_stale(labels("now", dead), "now", host)
    assert not enginemod.is_stale(labels("old", str(os.getpid())), "now", host)
    assert not enginemod.is_stale(labels("old", dead, "elsewhere"), "now", host)
    assert not enginemod.is_stale(labels("old", ""), "now", host)


def test_sweep_removes_only_stale_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    docker = pytest.importorskip("docker")
    client = FakeSdkClient()
    dead = str(_dead_pid())
    for run, pid in (("old", dead), ("now", dead), ("old", str(os.getpid()))):
        labels = enginemod.run_labels(run, "svc")
        labels[enginemod.PID_LABEL] = pid
        client.items.append(FakeSdkContainer(client, labels))
    monkeypatch.setattr(docker, "from_env", lambda timeout: client)
    assert enginemod.sweep_stale_containers("now") == 1
    assert [c.labels[enginemod.RUN_LABEL] for c in client.items] == ["now", "old"]
    assert client.closed


def test_sweep_without_engine_returns_zero(no_engine: None) -> None:
    started = time.monotonic()
    assert enginemod.sweep_stale_containers("now", timeout=2.0) == 0
    assert time.monotonic() - started < 3.0


def test_sweep_without_docker_sdk_returns_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    _block_modules(monkeypatch, "docker")
    assert enginemod.sweep_stale_containers("now") == 0
