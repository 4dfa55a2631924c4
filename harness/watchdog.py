"""Bounds on a scenario: a deadline for the whole test, and a health gate before it starts.

A crashed or frozen server, a killed PostgreSQL or S3 must turn into failed checks with the
culprit's logs, fast, and never into a run that hangs. The gate fails a scenario at set-up when
the infrastructure it needs is already down (a process that exited, a server that does not
answer /health), so after the first casualty the rest fail fast. A server whose process still
runs gets HEALTH_GRACE_S to answer again before it is declared down: a uvicorn supervisor
replaces workers that missed its ping on a starved machine (3.17.2 does, under load), and for
those seconds /health may not answer although nothing is wrong. A server declared down is
remembered: the next gate tries /health once, without the grace, so the scenarios after the
first casualty still fail within one HEALTH_TIMEOUT_S. The deadline (SIGALRM, main thread) ends
a scenario that takes longer than the run's `--scenario-timeout`, whatever it is waiting for.
"""

from __future__ import annotations

import http.client
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from harness.runtime.processes import REGISTRY

if TYPE_CHECKING:
    from harness.services.base import Service
    from harness.services.mlflow_server import MlflowServer

HEALTH_TIMEOUT_S = 5.0  # one /health request
HEALTH_GRACE_S = 20.0  # a live server's time to answer again before it is declared down
HEALTH_RETRY_PAUSE_S = 1.0

# Servers (name, port) declared down in this process: they get no second grace.
_declared_down: set[tuple[str, int]] = set()


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


def server_problem(server: MlflowServer, grace_s: float = HEALTH_GRACE_S) -> str | None:
    """Why `server` cannot serve a scenario, or None when it answers /health.

    A process that exited is down at once. A live one that does not answer is asked again for
    `grace_s` (bounded, and cut short by a cancelled run) unless it was declared down before."""
    key = (server.name, server.port)
    if not server.alive():
        return f"{server.name} is not running (it exited or was stopped)"
    waited = 0.0 if key in _declared_down else grace_s
    deadline = time.monotonic() + waited
    while (problem := _health(server)) is not None:
        if not server.alive():
            return f"{server.name} is not running (it exited or was stopped)"
        pause = min(HEALTH_RETRY_PAUSE_S, deadline - time.monotonic())
        if pause <= 0 or REGISTRY.cancelled.wait(pause):
            break
    if problem is None:
        _declared_down.discard(key)
        return None
    if waited > 0:
        problem += f"; still so after {waited:g}s while its process ran"
    _declared_down.add(key)
    return problem


def _health(server: MlflowServer) -> str | None:
    """One GET /health, bounded by HEALTH_TIMEOUT_S."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HEALTH_TIMEOUT_S)
    try:
        connection.request("GET", server.health_path)
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
