"""One container of this run, over testcontainers-python 4.x and the docker SDK.

Every container carries the run's labels, publishes its port on 127.0.0.1 only, and is
registered with `REGISTRY` before it is created, so an interrupted run removes it. testcontainers
and the docker SDK are imported lazily, so this module imports without the `docker` extra.
"""

from __future__ import annotations

import os
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import Cancelled, ServiceError
from harness.runtime.ports import LOOPBACK
from harness.runtime.processes import REGISTRY
from harness.runtime.waiting import ReadinessCheck
from harness.services.docker_engine import SERVICE_LABEL, engine_errors, run_labels

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

REMOVAL_WAIT_S = 30.0  # for a removal another caller started


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
        except engine_errors() as error:
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
        except engine_errors():
            return True
        return bool(found) and found[0].status == "running"

    def exit_code(self) -> int | None:
        """The container's exit code once it has stopped; None while running or unknown."""
        try:
            found = self._find()
        except engine_errors():
            return None
        if not found or found[0].status not in ("exited", "dead"):
            return None
        return int(found[0].attrs.get("State", {}).get("ExitCode", -1))

    def logs(self, lines: int = 40) -> str:
        """The container's last `lines` lines of output, or an empty string."""
        try:
            found = self._find()
            raw = found[0].logs(tail=lines) if found else b""
        except engine_errors():
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
        from docker.errors import APIError, NotFound  # type: ignore[import-untyped]

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
        except engine_errors() as error:
            raise ServiceError(
                f"cannot remove {self.service} container: {_first_line(error)}"
            ) from None

    def _wait_until_gone(self) -> None:
        deadline = time.monotonic() + REMOVAL_WAIT_S
        while self._find() and time.monotonic() < deadline:
            time.sleep(0.2)


@dataclass(frozen=True)
class WhileRunning:
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


def _removal_in_progress(error: Any) -> bool:
    """The engine's 409 for a container another caller is removing at the same moment."""
    return getattr(error, "status_code", None) == 409 and \
        "already in progress" in str(getattr(error, "explanation", "") or error)
