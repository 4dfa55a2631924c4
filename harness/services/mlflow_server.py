"""An MLflow tracking server from an environment, over a PostgreSQL database and S3."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from harness.errors import ServiceError
from harness.runtime.ports import LOOPBACK, free_port
from harness.runtime.processes import ManagedProcess, spawn
from harness.runtime.waiting import HttpCheck, wait_until_ready
from harness.services.base import OwnsProcess, S3Location, Service

READY_TIMEOUT_S = 180.0
PORT_ATTEMPTS = 3


class MlflowServer(OwnsProcess, Service):
    """`mlflow server` with proxied artifacts, in its own process group, healthy on /health."""

    stop_grace_seconds = 10.0

    def __init__(
        self,
        label: str,
        env_bin: Path,
        backend_uri: str,
        s3: S3Location,
        artifacts_prefix: str,
        log_dir: Path,
        workers: int = 2,
        port: int | None = None,
        app_name: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name = f"mlflow server {label}" + (f" ({app_name})" if app_name else "")
        self.label = label
        self.env_bin = env_bin
        self.backend_uri = backend_uri
        self.s3 = s3
        self.artifacts_prefix = artifacts_prefix
        self.log_dir = log_dir
        self.workers = workers
        self.requested_port = port
        self.app_name = app_name
        self.extra_env = dict(extra_env or {})
        self.port = 0
        self.startup_seconds = 0.0
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def argv(self, port: int) -> list[str]:
        return [
            str(self.env_bin / "mlflow"), "server",
            "--backend-store-uri", self.backend_uri,
            "--artifacts-destination", self.s3.uri(self.artifacts_prefix),
            "--serve-artifacts",
            "--host", LOOPBACK, "--port", str(port),
            "--workers", str(self.workers),
        ] + (["--app-name", self.app_name] if self.app_name else [])

    def start(self) -> Self:
        env = {
            **_base_env(),
            **self.s3.server_env(),
            **self.extra_env,
            "PATH": f"{self.env_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        attempts = 1 if self.requested_port else PORT_ATTEMPTS
        last_error: ServiceError | None = None
        for attempt in range(attempts):
            self.port = self.requested_port or free_port()
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
                self._process.stop()
                if not in_use or attempt == attempts - 1:
                    raise
        assert last_error is not None
        raise last_error

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()


def _base_env() -> dict[str, str]:
    """The parent's environment minus anything that would point MLflow elsewhere."""
    dropped = ("MLFLOW_", "AWS_", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["PYTHONUNBUFFERED"] = "1"
    env["GIT_PYTHON_REFRESH"] = "quiet"
    return env
