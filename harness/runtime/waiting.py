"""Bounded waiting: readiness checks are objects, never ad-hoc sleeps."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Protocol, TypeVar

from harness.errors import ServiceError, ServiceTimeout
from harness.runtime.processes import REGISTRY, ManagedProcess

T = TypeVar("T")
# How often a thread waiting on a worker wakes to run a signal handler that is due.
SIGNAL_POLL_S = 0.2


class ReadinessCheck(Protocol):
    """Answers whether a service is ready; describes what it waits for."""

    def ready(self) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class TcpCheck:
    host: str
    port: int

    def ready(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def describe(self) -> str:
        return f"TCP {self.host}:{self.port}"


@dataclass(frozen=True)
class HttpCheck:
    url: str
    expect_status: int = 200

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:  # noqa: S310
                return bool(response.status == self.expect_status)
        except urllib.error.HTTPError as error:
            return error.code == self.expect_status
        except (OSError, ValueError):
            return False

    def describe(self) -> str:
        return f"HTTP {self.expect_status} from {self.url}"


@dataclass(frozen=True)
class AnyOf:
    """Ready when one of `checks` is."""

    checks: tuple[ReadinessCheck, ...]

    def ready(self) -> bool:
        return any(check.ready() for check in self.checks)

    def describe(self) -> str:
        return " or ".join(check.describe() for check in self.checks)


@dataclass(frozen=True)
class CallableCheck:
    check: Callable[[], bool]
    description: str

    def ready(self) -> bool:
        try:
            return self.check()
        except Exception:  # noqa: BLE001 - a failing probe means "not ready yet"
            return False

    def describe(self) -> str:
        return self.description


def wait_until_ready(
    service: str,
    check: ReadinessCheck,
    timeout: float,
    process: ManagedProcess | None = None,
    interval: float = 0.2,
    logs: Callable[[], str] | None = None,
) -> float:
    """Poll `check` until it passes; returns seconds waited.

    Fails fast when `process` exits, and on timeout raises with the service's recent logs.
    """
    started = time.monotonic()
    deadline = started + timeout

    def recent_logs() -> str:
        if logs is not None:
            return logs()
        return process.logs() if process is not None else ""

    while True:
        REGISTRY.check_cancelled()
        if check.ready():
            return time.monotonic() - started
        if process is not None and not process.alive():
            raise ServiceError(
                f"{service} exited with code {process.popen.returncode} before "
                f"{check.describe()} (log: {process.log_path})",
                logs=recent_logs(),
            )
        if time.monotonic() > deadline:
            raise ServiceTimeout(
                f"{service} not ready after {timeout:.0f}s waiting for {check.describe()}"
                + (f" (log: {process.log_path})" if process is not None else ""),
                logs=recent_logs(),
            )
        time.sleep(interval)


def outcome(future: Future[T]) -> T:
    """The future's result, waited for in short slices.

    A process-directed signal (Ctrl-C, SIGTERM) may land on any thread; when it lands on a
    worker, an untimed wait of the main thread is not woken and its Python handler runs only
    once the future is done, which may be minutes away (an environment build, a paused phase).
    Timed slices let the handler run within SIGNAL_POLL_S.
    """
    while not future.done():
        wait_futures([future], timeout=SIGNAL_POLL_S)
    return future.result()
