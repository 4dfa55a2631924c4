"""An MLflow tracking server from an environment or an image, over a PostgreSQL database and S3."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

from harness.errors import ServiceError
from harness.runtime.ports import LOOPBACK, free_port
from harness.runtime.processes import ManagedProcess, spawn
from harness.runtime.waiting import AnyOf, HttpCheck, wait_until_ready
from harness.services.base import OwnsProcess, S3Location, Service
from harness.services.mlflow_command import MlflowCommand
from harness.services.server_args import (
    ALLOWED_HOSTS_ENV,
    loopback_allowed,
    static_prefix,
    with_loopback_allowed,
)

READY_TIMEOUT_S = 180.0
PORT_ATTEMPTS = 3
# `mlflow server` reads its backend store from here (2.x and 3.x alike): a DSN with a password
# then appears in no process's arguments.
BACKEND_ENV = "MLFLOW_BACKEND_STORE_URI"


@dataclass(frozen=True)
class ServerSpec:
    """What one `mlflow server` runs with. The backend store URI (which carries the database
    password) and `env` reach the server through its environment, never its command line."""

    backend_uri: str
    s3: S3Location
    artifacts_prefix: str
    workers: int | None = None  # None passes no `--workers` (the version's own default)
    port: int | None = None  # a fixed port (default: a free one)
    app_name: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # the server's own variables
    # A team's deployment options (checked by harness/services/server_args.py), appended.
    args: tuple[str, ...] = ()

    def static_prefix(self) -> str:
        """The `--static-prefix` the arguments give (or MLFLOW_STATIC_PREFIX), "" when none."""
        return static_prefix(self.args, self.env)


class MlflowServer(OwnsProcess, Service):
    """`mlflow server` with proxied artifacts, in its own process group, healthy on /health."""

    stop_grace_seconds = 10.0

    def __init__(self, label: str, command: MlflowCommand, spec: ServerSpec,
                 log_dir: Path) -> None:
        self.name = f"mlflow server {label}" + (f" ({spec.app_name})" if spec.app_name else "")
        self.label = label
        self.command = command
        self.spec = spec
        self.log_dir = log_dir
        self._container = ""
        self.port = 0
        self.health_path = "/health"  # where it answered when it started
        self.startup_seconds = 0.0
        self._process: ManagedProcess | None = None

    # What the spec says, as the readers of a server (the benchmark) name it.
    @property
    def workers(self) -> int | None:
        return self.spec.workers

    @property
    def server_args(self) -> tuple[str, ...]:
        return self.spec.args

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def health_paths(self) -> tuple[str, ...]:
        """Where /health is: under a static prefix from 3.x's later releases, at the root
        before (and always at the root without one)."""
        prefix = self.spec.static_prefix()
        return (f"{prefix}/health", "/health") if prefix else ("/health",)

    @property
    def log_path(self) -> Path:
        return self.log_dir / (f"mlflow-server-{self.label}"
                               f"{'-' + self.spec.app_name if self.spec.app_name else ''}.log")

    def variant(self, label: str, **changes: Any) -> MlflowServer:
        """A server like this one (not started) with some of its spec changed."""
        return MlflowServer(label, self.command, replace(self.spec, **changes), self.log_dir)

    def environment(self) -> dict[str, str]:
        """The variables the server gets from the harness: S3, the backend store, its own."""
        env = {**self.spec.s3.server_env(), **self.spec.env, **_PYTHON_ENV,
               BACKEND_ENV: self.spec.backend_uri}
        if ALLOWED_HOSTS_ENV in env:
            env[ALLOWED_HOSTS_ENV] = loopback_allowed(env[ALLOWED_HOSTS_ENV])
        return env

    def argv(self, port: int) -> list[str]:
        spec = self.spec
        args = [
            "server",
            "--artifacts-destination", spec.s3.uri(spec.artifacts_prefix),
            "--serve-artifacts",
            "--host", LOOPBACK, "--port", str(port),
        ]
        args += ["--workers", str(spec.workers)] if spec.workers is not None else []
        args += ["--app-name", spec.app_name] if spec.app_name else []
        args += with_loopback_allowed(spec.args)
        return self.command.argv(
            args,
            container=self._container,
            env_names=self.environment(),
            # Files the server reads (the basic-auth config) are visible in its container.
            mounts=[Path(v) for v in spec.env.values() if v.startswith("/") and Path(v).exists()],
        )

    def start(self) -> Self:
        env = {
            **_base_env(),
            **self.environment(),
            "PATH": f"{self.command.env_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        requested = self.spec.port
        attempts = 1 if requested else PORT_ATTEMPTS
        last_error: ServiceError | None = None
        for attempt in range(attempts):
            self.port = requested or free_port()
            self._container = self.command.new_container(self.label)
            self._process = spawn(self.name, self.argv(self.port), self.log_path, env=env)
            try:
                self.startup_seconds = wait_until_ready(
                    self.name,
                    AnyOf(tuple(HttpCheck(f"{self.url}{path}") for path in self.health_paths)),
                    READY_TIMEOUT_S,
                    process=self._process,
                )
                self.health_path = next((path for path in self.health_paths
                                         if HttpCheck(f"{self.url}{path}").ready()), "/health")
                return self
            except ServiceError as error:
                last_error = error
                in_use = "address already in use" in error.logs.lower()
                self.stop()
                if in_use and requested:
                    raise ServiceError(f"{self.name}: the requested port {self.port} is already "
                                       "in use", logs=error.logs) from None
                if not in_use or attempt == attempts - 1:
                    raise
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        super().stop()
        self.command.forget_container(self._container)
        self._container = ""


def _base_env() -> dict[str, str]:
    """The parent's environment minus anything that would point MLflow elsewhere."""
    dropped = ("MLFLOW_", "AWS_", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(_PYTHON_ENV)
    return env


_PYTHON_ENV = {"PYTHONUNBUFFERED": "1", "GIT_PYTHON_REFRESH": "quiet"}
