"""PostgreSQL and S3 in containers of this run, driven by testcontainers-python 4.x.

testcontainers and the docker SDK are imported lazily, so this module imports without the
`docker` extra. Every container carries the run's labels, publishes its port on 127.0.0.1 only,
and is registered with `REGISTRY` before it is created, so an interrupted run removes it.
"""

from __future__ import annotations

import importlib
import os
import secrets
import socket
import subprocess
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from harness.errors import Cancelled, ProviderUnavailable, ServiceError, UsageError
from harness.redact import register_secret
from harness.runtime.ports import LOOPBACK
from harness.runtime.processes import REGISTRY, running
from harness.runtime.waiting import CallableCheck, HttpCheck, ReadinessCheck, wait_until_ready
from harness.services.base import PostgresService, S3Location, S3Service
from harness.services.pg_admin import PgServer
from harness.services.s3 import create_bucket

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

RUN_LABEL = "mlflow-upgrade-harness.run"
PID_LABEL = "mlflow-upgrade-harness.pid"
HOST_LABEL = "mlflow-upgrade-harness.host"
SERVICE_LABEL = "mlflow-upgrade-harness.service"

READY_TIMEOUT_S = 60.0
DOCKER_API_TIMEOUT_S = 60.0
REMOVAL_WAIT_S = 30.0  # for a removal another caller started
SUPERUSER = "harness"
POSTGRES_PORT = 5432
# Same tuning as the local provider; starts with "-" so the official entrypoint prepends `postgres`.
POSTGRES_ARGS = "-c fsync=off -c synchronous_commit=off -c max_connections=200"
S3_IMAGES = {"minio": "minio/minio:latest", "moto": "motoserver/moto:latest"}
S3_PORTS = {"minio": 9000, "moto": 5000}
INSTALL_HINT = "pip install 'mlflow-upgrade-harness[docker]'"


def configure_testcontainers_env() -> None:
    """Default testcontainers to no Ryuk and 127.0.0.1 as the host, leaving user settings alone."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    os.environ.setdefault("TC_HOST", LOOPBACK)


def docker_engine_available(timeout: float = 3.0) -> bool:
    """True only when a Docker engine answers a ping within about `timeout` seconds."""
    answers: list[bool] = []
    probe = threading.Thread(
        target=lambda: answers.append(_ping_engine(timeout)), name="docker-ping", daemon=True
    )
    probe.start()
    # The SDK's own timeout should end the probe; the join bounds it even when it does not.
    probe.join(timeout + 1.0)
    return bool(answers and answers[0])


def _ping_engine(timeout: float) -> bool:
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError:
        return _cli_ping(timeout)
    try:
        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except _engine_errors():
        return False


def _cli_ping(timeout: float) -> bool:
    try:
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def _engine_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning the engine refused or could not be reached (requests' are OSErrors)."""
    try:
        from docker.errors import DockerException  # type: ignore[import-untyped]
    except ImportError:
        return (OSError,)
    return (DockerException, OSError)


def engine_address() -> str:
    """The engine address the docker SDK will use, for messages."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def require_docker(timeout: float = 3.0) -> None:
    """Raise ProviderUnavailable (one line) unless testcontainers imports and an engine answers."""
    configure_testcontainers_env()
    try:
        importlib.import_module("testcontainers.core.container")
    except ImportError as error:
        raise ProviderUnavailable(
            f"the docker provider needs testcontainers ({error.msg}): {INSTALL_HINT}"
        ) from None
    if not docker_engine_available(timeout):
        raise ProviderUnavailable(
            f"no Docker engine answers at {engine_address()} within {timeout:g}s: "
            "start dockerd, set DOCKER_HOST, or use --provider local"
        )


def _testcontainers_class(name: str, modules: tuple[str, ...]) -> type[DockerContainer]:
    """`name` from the first module that imports (4.15 moved modules under `community`)."""
    for module in modules:
        try:
            found: type[DockerContainer] = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        return found
    tried = ", ".join(modules)
    raise ProviderUnavailable(f"testcontainers has no {name} ({tried}): {INSTALL_HINT}")


def run_labels(run_id: str, service_token: str) -> dict[str, str]:
    """Labels for one container: the run, the owning process and host, and the service instance."""
    return {
        RUN_LABEL: run_id,
        PID_LABEL: str(os.getpid()),
        HOST_LABEL: socket.gethostname(),
        SERVICE_LABEL: service_token,
    }


def _client_kw() -> dict[str, Any]:
    return {"timeout": DOCKER_API_TIMEOUT_S}


def _postgres_container(image: str, password: str, labels: dict[str, str]) -> DockerContainer:
    cls: Any = _testcontainers_class(
        "PostgresContainer", ("testcontainers.community.postgres", "testcontainers.postgres")
    )
    container: DockerContainer = cls(
        image,
        port=POSTGRES_PORT,
        username=SUPERUSER,
        password=password,
        dbname="postgres",
        docker_client_kw=_client_kw(),
        labels=labels,
    )
    return container.with_command(POSTGRES_ARGS)


def _minio_container(
    image: str, access_key: str, secret_key: str, labels: dict[str, str]
) -> DockerContainer:
    cls: Any = _testcontainers_class(
        "MinioContainer", ("testcontainers.community.minio", "testcontainers.minio")
    )
    container: DockerContainer = cls(
        image,
        port=S3_PORTS["minio"],
        access_key=access_key,
        secret_key=secret_key,
        docker_client_kw=_client_kw(),
        labels=labels,
    )
    # Newer MinIO releases read only the ROOT variables; testcontainers sets the old ones.
    return container.with_env("MINIO_ROOT_USER", access_key).with_env(
        "MINIO_ROOT_PASSWORD", secret_key
    )


def _moto_container(image: str, labels: dict[str, str]) -> DockerContainer:
    cls = _testcontainers_class("DockerContainer", ("testcontainers.core.container",))
    container = cls(image, docker_client_kw=_client_kw(), labels=labels)
    port = S3_PORTS["moto"]
    return container.with_exposed_ports(port).with_command(f"-H 0.0.0.0 -p {port}")


def _publish_on_loopback(container: DockerContainer) -> None:
    """Bind every exposed port to a random port on 127.0.0.1 (never 0.0.0.0)."""
    ports: dict[str, Any] = container.ports  # docker-py also takes an (address,) binding
    for key in list(ports):
        ports[key] = (LOOPBACK,)


def _start_without_waits(container: DockerContainer) -> None:
    """Create and start the container, skipping testcontainers' own (unbounded-by-us) waits."""
    from testcontainers.core.container import DockerContainer as Base

    container._wait_strategy = None
    # Base.start skips DbContainer's psql probe; readiness is ours: bounded and cancellable.
    Base.start(container)


def _loopback_port(attrs: Mapping[str, Any], port: int) -> int | None:
    bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") == LOOPBACK and binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


_CONTAINERS: weakref.WeakSet[RunContainer] = weakref.WeakSet()


def _own_connections_after_fork() -> None:
    """In a forked scenario lane: drop the engine connections the parent pooled, so the two
    processes never talk over one socket (the lane opens its own on its next request)."""
    for container in list(_CONTAINERS):
        if container._client is not None:
            try:
                container._client.api.close()
            except Exception:  # noqa: BLE001 - a fresh connection is opened on the next call
                pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_own_connections_after_fork)


class RunContainer:
    """One labelled container of this run: started once, found by label, removed once."""

    def __init__(self, run_id: str, service: str, image: str) -> None:
        self.service = service
        self.image = image
        self.labels = run_labels(run_id, f"{service}-{uuid.uuid4().hex[:12]}")
        self._client: Any = None
        self._cleanup: Callable[[], None] | None = None
        _CONTAINERS.add(self)

    def start(self, build: Callable[[dict[str, str]], DockerContainer], port: int) -> int:
        """Build and start the container with its ports on 127.0.0.1; returns `port`'s host port."""
        # Registered before creation: an interrupt mid-start still removes it (found by label).
        self._cleanup = REGISTRY.add_cleanup(f"docker container {self.service}", self.remove)
        try:
            container = build(self.labels)
            self._client = container.get_docker_client().client
            _publish_on_loopback(container)
            _start_without_waits(container)
            if REGISTRY.cancelled.is_set():
                # Interrupted while the engine created it: the run's teardown may already have
                # looked for it (before the engine knew it), so this start removes it itself.
                self.remove()
                raise Cancelled(f"run cancelled while {self.service} started")
            found = self._find()
        except _engine_errors() as error:
            raise ServiceError(
                f"cannot start {self.service} container from {self.image}: "
                f"{_first_line(error)}{_image_hint(error)}",
                logs=self.logs(),
            ) from None
        host_port = _loopback_port(found[0].attrs, port) if found else None
        if host_port is None:
            code = self.exit_code()
            state = f"exited with code {code}" if code is not None else "is running"
            raise ServiceError(
                f"{self.service} container {state} but publishes no {LOOPBACK} port for "
                f"{port}/tcp",
                logs=self.logs(),
            )
        return host_port

    def _find(self) -> list[Any]:
        if self._client is None:
            return []
        token = self.labels[SERVICE_LABEL]
        return list(
            self._client.containers.list(all=True, filters={"label": f"{SERVICE_LABEL}={token}"})
        )

    def running(self) -> bool:
        """True while the container runs (also when the engine cannot be asked)."""
        try:
            found = self._find()
        except _engine_errors():
            return True
        return bool(found) and found[0].status == "running"

    def exit_code(self) -> int | None:
        """The container's exit code once it has stopped; None while running or unknown."""
        try:
            found = self._find()
        except _engine_errors():
            return None
        if not found or found[0].status not in ("exited", "dead"):
            return None
        return int(found[0].attrs.get("State", {}).get("ExitCode", -1))

    def logs(self, lines: int = 40) -> str:
        """The container's last `lines` lines of output, or an empty string."""
        try:
            found = self._find()
            raw = found[0].logs(tail=lines) if found else b""
        except _engine_errors():
            return ""
        return bytes(raw).decode("utf-8", errors="replace").rstrip("\n")

    def remove(self) -> None:
        """Remove the container and its volumes; safe to call twice."""
        if self._client is not None:
            self._remove_found()
            self._client.close()
            self._client = None
        if self._cleanup is not None:
            REGISTRY.remove_cleanup(self._cleanup)
            self._cleanup = None

    def _remove_found(self) -> None:
        from docker.errors import APIError, NotFound

        try:
            for found in self._find():
                try:
                    found.remove(force=True, v=True)
                except NotFound:
                    pass
                except APIError as error:
                    if not _removal_in_progress(error):
                        raise
                    self._wait_until_gone()  # another remover (a cancelled start) got there first
        except _engine_errors() as error:
            raise ServiceError(
                f"cannot remove {self.service} container: {_first_line(error)}"
            ) from None

    def _wait_until_gone(self) -> None:
        deadline = time.monotonic() + REMOVAL_WAIT_S
        while self._find() and time.monotonic() < deadline:
            time.sleep(0.2)


@dataclass(frozen=True)
class _WhileRunning:
    """A readiness check that fails fast, with logs, when its container exits."""

    inner: ReadinessCheck
    container: RunContainer
    service: str

    def ready(self) -> bool:
        if self.inner.ready():
            return True
        code = self.container.exit_code()
        if code is not None:
            raise ServiceError(
                f"{self.service} container exited with code {code} before "
                f"{self.inner.describe()}",
                logs=self.container.logs(),
            )
        return False

    def describe(self) -> str:
        return self.inner.describe()


def _image_hint(error: BaseException) -> str:
    text = f"{type(error).__name__} {error}".lower()
    if "imagenotfound" in text or "pull" in text:
        return " (no registry reachable? build or load the image locally first)"
    return ""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class DockerPostgres(PostgresService):
    """PostgreSQL in a container of this run, published on a random 127.0.0.1 port."""

    def __init__(self, run_id: str, image: str = "postgres:16") -> None:
        require_docker()
        self.run_id = run_id
        self.image = image
        self.password = secrets.token_urlsafe(16)
        register_secret(self.password)
        self._container = RunContainer(run_id, "postgres", image)
        self._server: PgServer | None = None

    @property
    def server(self) -> PgServer:
        if self._server is None:
            raise ServiceError("PostgreSQL (docker) is not started")
        return self._server

    def start(self) -> Self:
        port = self._container.start(
            lambda labels: _postgres_container(self.image, self.password, labels), POSTGRES_PORT
        )
        self._server = PgServer(LOOPBACK, port, SUPERUSER, self.password)
        service = f"PostgreSQL (docker {self.image})"
        probe = CallableCheck(self._server.ping, f"SELECT 1 on {LOOPBACK}:{port}")
        wait_until_ready(
            service,
            _WhileRunning(probe, self._container, service),
            READY_TIMEOUT_S,
            logs=self.logs,
        )
        return self

    def stop(self) -> None:
        self._container.remove()
        self._server = None

    def logs(self, lines: int = 40) -> str:
        return self._container.logs(lines)

    def alive(self) -> bool:
        return self._container.running()


class DockerS3(S3Service):
    """MinIO or moto in a container of this run, with the run's bucket created."""

    def __init__(
        self, run_id: str, bucket: str, image: str | None = None, kind: str = "minio"
    ) -> None:
        if kind not in S3_IMAGES:
            raise UsageError(f"unknown docker S3 kind {kind!r}: choose minio or moto")
        require_docker()
        self.run_id = run_id
        self.bucket = bucket
        self.kind = kind
        self.image = image or S3_IMAGES[kind]
        if kind == "minio":
            self.access_key, self.secret_key = "harness", secrets.token_urlsafe(24)
            register_secret(self.secret_key)
        else:
            self.access_key, self.secret_key = "testing", "testing"
        self.port = 0
        self._container = RunContainer(run_id, f"s3-{kind}", self.image)

    @property
    def location(self) -> S3Location:
        if not self.port:
            raise ServiceError(f"S3 ({self.kind}, docker) is not started")
        endpoint = f"http://{LOOPBACK}:{self.port}"
        return S3Location(endpoint, self.access_key, self.secret_key, self.bucket)

    def _new_container(self, labels: dict[str, str]) -> DockerContainer:
        if self.kind == "minio":
            return _minio_container(self.image, self.access_key, self.secret_key, labels)
        return _moto_container(self.image, labels)

    def _health_url(self) -> str:
        path = "/minio/health/live" if self.kind == "minio" else "/moto-api/"
        return f"http://{LOOPBACK}:{self.port}{path}"

    def start(self) -> Self:
        self.port = self._container.start(self._new_container, S3_PORTS[self.kind])
        service = f"S3 ({self.kind}, docker {self.image})"
        wait_until_ready(
            service,
            _WhileRunning(HttpCheck(self._health_url()), self._container, service),
            READY_TIMEOUT_S,
            logs=self.logs,
        )
        create_bucket(self.location)
        return self

    def stop(self) -> None:
        self._container.remove()
        self.port = 0

    def logs(self, lines: int = 40) -> str:
        return self._container.logs(lines)

    def alive(self) -> bool:
        return self._container.running()


def is_stale(labels: Mapping[str, str], current_run_id: str, hostname: str) -> bool:
    """True for a container of another run started on `hostname` by a process that is gone."""
    if labels.get(RUN_LABEL) in (None, current_run_id) or labels.get(HOST_LABEL) != hostname:
        return False
    pid = labels.get(PID_LABEL, "")
    return pid.isdigit() and not _pid_alive(int(pid))


def _pid_alive(pid: int) -> bool:
    return pid > 0 and running(pid)


def sweep_stale_containers(current_run_id: str, timeout: float = 10.0) -> int:
    """Remove containers left on this host by runs whose process is gone; returns how many."""
    try:
        import docker
    except ImportError:
        return 0
    try:
        client = docker.from_env(timeout=timeout)
    except _engine_errors():
        return 0
    removed = 0
    hostname = socket.gethostname()
    try:
        for container in client.containers.list(all=True, filters={"label": RUN_LABEL}):
            if is_stale(container.labels, current_run_id, hostname):
                removed += _remove_quietly(container)
    except _engine_errors():
        pass
    finally:
        client.close()
    return removed


def _removal_in_progress(error: Any) -> bool:
    """The engine's 409 for a container another caller is removing at the same moment."""
    return getattr(error, "status_code", None) == 409 and \
        "already in progress" in str(getattr(error, "explanation", "") or error)


def _remove_quietly(container: Any) -> int:
    try:
        container.remove(force=True, v=True)
    except _engine_errors():
        return 0
    return 1
