"""Teardown that a second Ctrl-C cannot cut short.

The first Ctrl-C (or SIGTERM) starts the teardown; people press it again while they wait. A
KeyboardInterrupt raised inside the teardown would abandon it half way and leave PostgreSQL,
servers or containers running, so while `interrupts_deferred()` holds, SIGINT and SIGTERM
are noted instead of raised (the teardown is bounded by its own stop timeouts), and one
KeyboardInterrupt is raised once it is done, unless an exception is already on its way out.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType
from typing import ParamSpec, TypeVar

SIGNALS = (signal.SIGINT, signal.SIGTERM)
P = ParamSpec("P")
T = TypeVar("T")


@contextmanager
def interrupts_deferred(say: Callable[[str], None] | None = None,
                        raise_after: bool = True) -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM until the block is done (main thread only; elsewhere a no-op).
    Yields the signals received; with `raise_after`, raises KeyboardInterrupt after the block
    if one came. `say` is told once that the teardown goes on; it runs in the signal handler,
    so it must not take a lock (`Progress.urgent`)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, frame: FrameType | None) -> None:
        if not received and say is not None:
            say("interrupt received: finishing the teardown first, so nothing is left running")
        received.append(signum)

    previous = {number: signal.signal(number, note) for number in SIGNALS}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received and raise_after:
        raise KeyboardInterrupt


class InterruptSafePool(ThreadPoolExecutor):
    """A thread pool whose `submit` a signal cannot cut in half.

    `ThreadPoolExecutor.submit` starts a worker thread and only then records it. A Ctrl-C that
    lands in between leaves a worker running that the pool's shutdown does not wait for: the
    run's teardown then went ahead while that worker was still creating what it was asked to
    (a PostgreSQL data folder was left behind). Here a signal during `submit` is delivered just
    after it, to whatever handler was in force (ignored if it was ignored)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with interrupts_deferred(raise_after=False) as received:
            future = super().submit(fn, *args, **kwargs)
        if received:
            signal.raise_signal(received[0])
        return future
