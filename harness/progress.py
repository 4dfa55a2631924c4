"""Console progress: one line when a phase starts and one when it ends, with timings."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from harness.faults import pause_point


class Progress:
    """Thread-safe phase reporter that also records each phase's duration."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.started = time.monotonic()
        self.durations: dict[str, float] = {}
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        if self.quiet:
            return
        with self._lock:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"[{elapsed:6.1f}s] {message}\n")
            self.stream.flush()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.say(f"… {name}")
        began = time.monotonic()
        try:
            pause_point(name)
            yield
        except BaseException:
            self.say(f"✗ {name} ({time.monotonic() - began:.1f}s)")
            raise
        seconds = time.monotonic() - began
        with self._lock:
            self.durations[name] = round(seconds, 2)
        self.say(f"✓ {name} ({seconds:.1f}s)")
