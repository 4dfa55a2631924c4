"""Bounds on a scenario: a deadline for the whole test, and a health gate before it starts.

A crashed or frozen server, a killed PostgreSQL or S3 must turn into failed checks with the
culprit's logs, fast, and never into a run that hangs. The gate fails a scenario at set-up when
the infrastructure it needs is already down (a process that exited, a server that does not
answer /health within HEALTH_TIMEOUT_S), so after the first casualty the rest fail in
milliseconds. The deadline (SIGALRM, main thread) ends a scenario that takes longer than the
run's `--scenario-timeout`, whatever it is waiting for.
"""

from __future__ import annotations

import http.client
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.services.base import Service
    from harness.services.mlflow_server import MlflowServer

HEALTH_TIMEOUT_S = 5.0


class ScenarioTimeout(Exception):  # noqa: N818 - reads as what happened in the report
    """A scenario ran past the run's --scenario-timeout."""


class InfrastructureDown(Exception):  # noqa: N818
    """A server, PostgreSQL or S3 the scenario needs is down before it starts."""


@contextmanager
def scenario_deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise ScenarioTimeout in the main thread once `seconds` have passed (no-op elsewhere)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise ScenarioTimeout(f"{what} exceeded its {seconds:g}s limit (--scenario-timeout)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def server_problem(server: MlflowServer) -> str | None:
    """Why `server` cannot serve a scenario, or None when it answers /health."""
    if not server.alive():
        return f"{server.name} is not running (it exited or was stopped)"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HEALTH_TIMEOUT_S)
    try:
        connection.request("GET", "/health")
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return f"{server.name} does not answer /health within {HEALTH_TIMEOUT_S:g}s ({error})"
    finally:
        connection.close()
    if status != 200:
        return f"{server.name} answers /health with HTTP {status}"
    return None


def infrastructure_problem(services: Iterable[tuple[str, Service | None]]) -> str | None:
    """The first of PostgreSQL / S3 whose process or container has gone, if any."""
    for label, service in services:
        if service is not None and not service.alive():
            return f"{label} ({type(service).__name__}) is not running any more"
    return None
