"""PostgreSQL and S3 in containers of this run, driven by testcontainers-python 4.x.

testcontainers and the docker SDK are imported lazily, so this module imports without the
`docker` extra. The engine, the run's labels and the sweep are in `docker_engine.py`; one
container's start, readiness and removal in `docker_container.py`.
"""

from __future__ import annotations

import importlib
import secrets
from typing import TYPE_CHECKING, Any, Self

from harness.errors import ProviderUnavailable, ServiceError, UsageError
from harness.redact import register_secret
from harness.runtime.ports import LOOPBACK
from harness.runtime.waiting import CallableCheck, HttpCheck, wait_until_ready
from harness.services.base import PostgresService, S3Location, S3Service
from harness.services.docker_container import RunContainer, WhileRunning
from harness.services.docker_engine import INSTALL_HINT, require_docker
from harness.services.pg_admin import PgServer
from harness.services.s3 import create_bucket

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

READY_TIMEOUT_S = 60.0
DOCKER_API_TIMEOUT_S = 60.0
SUPERUSER = "harness"
POSTGRES_PORT = 5432
# Same tuning as the local provider; starts with "-" so the official entrypoint prepends `postgres`.
POSTGRES_ARGS = "-c fsync=off -c synchronous_commit=off -c max_connections=200"
S3_IMAGES = {"minio": "minio/minio:latest", "moto": "motoserver/moto:latest"}
S3_PORTS = {"minio": 9000, "moto": 5000}


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
            WhileRunning(probe, self._container, service),
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
            WhileRunning(HttpCheck(self._health_url()), self._container, service),
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
