"""The Docker engine the docker provider talks to: is it there, the labels that mark this run's
containers, and the sweep that removes containers of runs whose process is gone.

The docker SDK and testcontainers are imported lazily, so this module imports without the
`docker` extra.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import threading
from collections.abc import Mapping
from typing import Any

from harness.errors import ProviderUnavailable
from harness.runtime.ports import LOOPBACK
from harness.runtime.processes import running

RUN_LABEL = "mlflow-upgrade-harness.run"
PID_LABEL = "mlflow-upgrade-harness.pid"
HOST_LABEL = "mlflow-upgrade-harness.host"
SERVICE_LABEL = "mlflow-upgrade-harness.service"

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
    except engine_errors():
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


def engine_errors() -> tuple[type[BaseException], ...]:
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


def run_labels(run_id: str, service_token: str) -> dict[str, str]:
    """Labels for one container: the run, the owning process and host, and the service instance."""
    return {
        RUN_LABEL: run_id,
        PID_LABEL: str(os.getpid()),
        HOST_LABEL: socket.gethostname(),
        SERVICE_LABEL: service_token,
    }


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
    except engine_errors():
        return 0
    removed = 0
    hostname = socket.gethostname()
    try:
        for container in client.containers.list(all=True, filters={"label": RUN_LABEL}):
            if is_stale(container.labels, current_run_id, hostname):
                removed += _remove_quietly(container)
    except engine_errors():
        pass
    finally:
        client.close()
    return removed


def _remove_quietly(container: Any) -> int:
    try:
        container.remove(force=True, v=True)
    except engine_errors():
        return 0
    return 1
