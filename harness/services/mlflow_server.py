"""An MLflow tracking server from an environment or an image, over a PostgreSQL database and S3."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from harness.errors import ServiceError
from harness.runtime.ports import LOOPBACK, free_port
from harness.runtime.processes import ManagedProcess, spawn
from harness.runtime.waiting import HttpCheck, wait_until_ready
from harness.services.base import OwnsProcess, S3Location, Service
from harness.services.mlflow_command import MlflowCommand

READY_TIMEOUT_S = 180.0
PORT_ATTEMPTS = 3


class MlflowServer(OwnsProcess, Service):
    """`mlflow server` with proxied artifacts, in its own process group, healthy on /health.

    `workers` None passes no `--workers` (the version's own default); `server_args` (a team's
    deployment options, checked by harness/services/server_args.py) are appended as given.
    """

    stop_grace_seconds = 10.0

    def __init__(
        self,
        label: str,
        command: MlflowCommand,
        backend_uri: str,
        s3: S3Location,
        artifacts_prefix: str,
        log_dir: Path,
        workers: int | None = None,
        port: int | None = None,
        app_name: str | None = None,
        extra_env: dict[str, str] | None = None,
        server_args: Sequence[str] = (),
    ) -> None:
        self.name = f"mlflow server {label}" + (f" ({app_name})" if app_name else "")
        self.label = label
        self.command = command
        self._container = ""
        self.backend_uri = backend_uri
        self.s3 = s3
        self.artifacts_prefix = artifacts_prefix
        self.log_dir = log_dir
        self.workers = workers
        self.requested_port = port
        self.app_name = app_name
        self.extra_env = dict(extra_env or {})
        self.server_args = tuple(server_args)
        self.port = 0
        self.startup_seconds = 0.0
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def argv(self, port: int) -> list[str]:
        args = [
            "server",
            "--backend-store-uri", self.backend_uri,
            "--artifacts-destination", self.s3.uri(self.artifacts_prefix),
            "--serve-artifacts",
            "--host", LOOPBACK, "--port", str(port),
        ]
        args += ["--workers", str(self.workers)] if self.workers is not None else []
        args += ["--app-name", self.app_name] if self.app_name else []
        args += self.server_args
        server_env = {**self.s3.server_env(), **self.extra_env, **_PYTHON_ENV}
        return self.command.argv(
            args,
            container=self._container,
            env_names=server_env,
            # Files the server reads (the basic-auth config) are visible in its container.
            mounts=[Path(v) for v in self.extra_env.values() if v.startswith("/")
                    and Path(v).exists()],
        )

    def start(self) -> Self:
        env = {
            **_base_env(),
            **self.s3.server_env(),
            **self.extra_env,
            "PATH": f"{self.command.env_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        attempts = 1 if self.requested_port else PORT_ATTEMPTS
        last_error: ServiceError | None = None
        for attempt in range(attempts):
            self.port = self.requested_port or free_port()
            self._container = self.command.new_container(self.label)
            self._process = spawn(
                self.name,
                self.argv(self.port),
                self.log_dir / f"mlflow-server-{self.label}"
                f"{'-' + self.app_name if self.app_name else ''}.log",
                env=env,
            )
            try:
                self.startup_seconds = wait_until_ready(
                    self.name,
                    HttpCheck(f"{self.url}/health"),
                    READY_TIMEOUT_S,
                    process=self._process,
                )
                return self
            except ServiceError as error:
                last_error = error
                in_use = "address already in use" in error.logs.lower()
                self.stop()
                if in_use and self.requested_port:
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
