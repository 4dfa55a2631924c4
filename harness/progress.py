"""Console progress a person can follow, on stderr.

On a terminal: a live view (harness/live.py) with one line per phase and per scenario under
way; each finished phase, scenario and check that did not pass is printed above it and stays.
Elsewhere (a pipe, a CI log): the same finished lines, plain, each with the run's elapsed time,
plus a line when a phase or background work starts. `quiet` prints nothing.

The stream is a duplicate of the process's stderr taken at start: the in-process pytest of the
scenarios captures file descriptor 2 while a test runs, and progress must still reach the
person.
"""

from __future__ import annotations

import atexit
import io
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from harness.board import FAILED, Board, Tally
from harness.faults import pause_point
from harness.live import LiveView
from harness.results.model import CheckResult


def own_stderr() -> TextIO:
    """A stream on a duplicate of file descriptor 2 (sys.stderr when it has none)."""
    try:
        descriptor = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return sys.stderr
    return os.fdopen(descriptor, "w", buffering=1, encoding="utf-8", errors="replace")


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


class Progress:
    """Thread-safe phase and scenario reporter that also records each phase's duration."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False,
                 live: bool | None = None) -> None:
        self.stream = stream or (sys.stderr if quiet else own_stderr())
        self.quiet = quiet
        self.started = time.monotonic()
        self.durations: dict[str, float] = {}
        self.board = Board()
        self._lock = threading.Lock()
        wanted = is_terminal(self.stream) if live is None else live
        self._view: LiveView | None = None
        if wanted and not quiet:
            self._view = LiveView(self.stream, self.board)
            self._view.start()
            atexit.register(self.close)  # the terminal gets its cursor back whatever happens

    @property
    def live(self) -> bool:
        return self._view is not None

    def say(self, message: str) -> None:
        """A line that stays: `[  12.3s] message`."""
        self._line(f"[{time.monotonic() - self.started:6.1f}s] {message}")

    def urgent(self, message: str) -> None:
        """`say` from a signal handler: written at once, without the lock (the thread the
        signal interrupted may hold it); lost rather than raised if the stream will not take it."""
        if self.quiet:
            return
        line = f"[{time.monotonic() - self.started:6.1f}s] {message}\n"
        try:
            os.write(self.stream.fileno(), line.encode())
        except (OSError, ValueError, io.UnsupportedOperation):
            pass

    def note(self, line: str) -> None:
        """A line that stays, as given (a check's one-line outcome)."""
        self._line(line)

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            if self._view is not None:
                self._view.print(text)
                return
            self.stream.write(text + "\n")
            self.stream.flush()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A phase: its live line while it runs (plain: `… name`), then `✓ name (1.2s)` or
        `✗ name (1.2s)`; its duration is recorded."""
        if not self.live:
            self.say(f"… {name}")
        self.board.begin(name)
        began = time.monotonic()
        try:
            pause_point(name)
            yield
        except BaseException:
            self.board.end(name)
            self.say(f"✗ {name} ({time.monotonic() - began:.1f}s)")
            raise
        seconds = time.monotonic() - began
        with self._lock:
            self.durations[name] = round(seconds, 2)
        self.board.end(name)
        self.say(f"✓ {name} ({seconds:.1f}s)")

    @contextmanager
    def task(self, name: str) -> Iterator[None]:
        """Work in the background (a thread beside the scenarios): on the live view's
        background line while it runs; plain output says when it starts and ends."""
        if not self.live:
            self.say(f"… background: {name}")
        self.board.begin(name, background=True)
        began = time.monotonic()
        try:
            yield
        finally:
            self.board.end(name, background=True)
            if not self.live:
                self.say(f"✓ background: {name} ({time.monotonic() - began:.1f}s)")

    def in_background(self, name: str, work: Callable[..., None]) -> Callable[..., None]:
        """`work` as a thread's target that runs as background task `name`."""

        def run(*args: Any) -> None:
            with self.task(name):
                work(*args)

        return run

    def scenarios_collected(self, totals: dict[str, int]) -> None:
        """How many tests (× cells) each scenario has: the denominators of the live lines."""
        self.board.collected(totals)

    def test_started(self, scenario: str, side: str) -> None:
        self.board.test_started(scenario, side)

    def test_finished(self, scenario: str, checks: list[CheckResult],
                      lines: list[str]) -> None:
        """Count a finished test; print `lines` (its checks that did not pass, one each), and
        the scenario's closing line when it was the scenario's last test."""
        for line in lines:
            self.note(line)
        tally = self.board.test_finished(scenario, checks)
        if tally is not None:
            self.say(scenario_line(scenario, tally))

    def close(self) -> None:
        """End the live view (the lines after it are plain); idempotent."""
        with self._lock:
            view, self._view = self._view, None
        if view is not None:
            view.stop()


def scenario_line(name: str, tally: Tally) -> str:
    """`✓ scenario tracking: 4 passed (12.3s)`; `✗` when one of its checks failed."""
    failed = any(tally.statuses[status] for status in FAILED)
    return f"{'✗' if failed else '✓'} scenario {name}: {tally.summary()} ({tally.seconds:.1f}s)"
