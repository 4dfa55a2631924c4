"""What a run is doing right now: the phases under way, the background work, and each
scenario's tally. Progress updates it; the live view (harness/live.py) draws it; plain output
prints its lines as they complete. Thread-safe: phases run in a thread pool."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from harness.matrix import is_advisory
from harness.results.model import CheckResult, Status

FAILED = (Status.FAILED, Status.ERROR)


@dataclass
class Tally:
    """One scenario: its tests (× cells) collected, done, and their results so far."""

    total: int
    done: int = 0
    statuses: Counter[Status] = field(default_factory=Counter)
    advisory: int = 0  # failed in a cell whose client is newer than its server: not blocking
    seconds: float = 0.0  # time in its tests
    started: float | None = None  # monotonic time of its first test
    # the sides or cells of its tests under way (several at once when the scenarios run in
    # lanes), empty between its tests
    running: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    def summary(self) -> str:
        """`4 passed, 2 failed, 1 known defect` (only what occurred; `nothing ran` for none)."""
        failed = sum(self.statuses[s] for s in FAILED)
        parts = [(self.statuses[Status.PASSED], "passed"), (failed, "failed"),
                 (self.advisory, "advisory"), (self.statuses[Status.KNOWN_DEFECT], "known defect"),
                 (self.statuses[Status.SKIPPED], "skipped")]
        shown = [f"{count} {what}{'s' if what == 'known defect' and count > 1 else ''}"
                 for count, what in parts if count]
        return ", ".join(shown) or "nothing ran"


@dataclass
class Snapshot:
    """A consistent copy of the board for drawing."""

    now: float
    phases: dict[str, float]
    tasks: dict[str, float]
    scenarios: dict[str, Tally]
    current: str


class Board:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phases: dict[str, float] = {}
        self._tasks: dict[str, float] = {}
        self._scenarios: dict[str, Tally] = {}
        self._current = ""

    def begin(self, name: str, background: bool = False) -> None:
        with self._lock:
            (self._tasks if background else self._phases)[name] = time.monotonic()

    def end(self, name: str, background: bool = False) -> None:
        with self._lock:
            (self._tasks if background else self._phases).pop(name, None)

    def collected(self, totals: dict[str, int]) -> None:
        with self._lock:
            self._scenarios = {name: Tally(total) for name, total in totals.items()}

    def test_started(self, scenario: str, side: str) -> None:
        with self._lock:
            tally = self._scenarios.setdefault(scenario, Tally(total=1))
            tally.started = tally.started or time.monotonic()
            tally.running.append(side or "·")
            self._current = scenario

    def test_finished(self, scenario: str, checks: list[CheckResult]) -> Tally | None:
        """Count one finished test; returns its scenario's tally when that scenario is now
        complete (for its closing line), else None."""
        with self._lock:
            tally = self._scenarios.setdefault(scenario, Tally(total=1))
            tally.done += 1
            ended = checks[0].side if checks else ""
            if tally.running:
                tally.running.remove(ended if ended in tally.running else tally.running[0])
            for check in checks:
                if check.status in FAILED and is_advisory(check):
                    tally.advisory += 1
                else:
                    tally.statuses[check.status] += 1
                tally.seconds += check.duration_s
            return tally if tally.complete else None

    def totals(self) -> Counter[Status]:
        with self._lock:
            found: Counter[Status] = Counter()
            for tally in self._scenarios.values():
                found.update(tally.statuses)
            return found

    def snapshot(self) -> Snapshot:
        with self._lock:
            scenarios = {name: Tally(t.total, t.done, Counter(t.statuses), t.advisory, t.seconds,
                                     t.started, list(t.running))
                         for name, t in self._scenarios.items()}
            return Snapshot(time.monotonic(), dict(self._phases), dict(self._tasks), scenarios,
                            self._current)
