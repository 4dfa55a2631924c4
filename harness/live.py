"""The live view on a terminal (rich): one line per phase under way, one per scenario under way
(the cell it is running, its tests done of collected, its results so far), the run's totals
and what runs in the background, redrawn four times a second. Finished lines are printed
above it and stay; the view disappears when the run ends."""

from __future__ import annotations

import os
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from harness.board import FAILED, Board, Snapshot
from harness.results.model import Status


def clock(seconds: float) -> str:
    """`8.2s` under a minute, `3:07` after."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def _counts(snap: Snapshot) -> str:
    statuses = [tally.statuses for tally in snap.scenarios.values()]
    done = sum(t.done for t in snap.scenarios.values())
    total = sum(t.total for t in snap.scenarios.values())
    passed = sum(s[Status.PASSED] for s in statuses)
    failed = sum(s[status] for s in statuses for status in FAILED)
    known = sum(s[Status.KNOWN_DEFECT] for s in statuses)
    advisory = sum(t.advisory for t in snap.scenarios.values())
    return (f"{done}/{total} tests · {passed} passed · {failed} failed · {advisory} advisory · "
            f"{known} known defect{'s' if known != 1 else ''}")


class LiveView:
    def __init__(self, stream: TextIO, board: Board) -> None:
        self.board = board
        self.console = Console(file=stream, force_terminal=True, highlight=False,
                               emoji=False)
        self._spinners: dict[str, Spinner] = {}
        self._live = Live(get_renderable=self._render, console=self.console,
                          refresh_per_second=4, transient=True, redirect_stdout=False,
                          redirect_stderr=False)

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()

    def print(self, line: str, style: str = "") -> None:
        """A finished line, above the live region (wrapped, whole)."""
        self._fit()
        self._live.console.print(Text(line, style=style))
        self._live.refresh()  # the region under it, current at once

    def _spinner(self, key: str) -> Spinner:
        if key not in self._spinners:
            self._spinners[key] = Spinner("dots", style="cyan")
        return self._spinners[key]

    def _fit(self) -> None:
        """The terminal's size, read from the view's own stream: while a scenario runs, pytest
        has replaced file descriptors 0 to 2, where rich would look."""
        try:
            self.console.size = os.get_terminal_size(self.console.file.fileno())
        except (AttributeError, OSError, ValueError):
            pass

    def _render(self) -> RenderableType:
        self._fit()
        snap = self.board.snapshot()
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        grid.add_column(justify="right", no_wrap=True)
        for name, since in snap.phases.items():
            grid.add_row(self._spinner(name), Text(name, style="bold"),
                         Text(clock(snap.now - since)))
        for name, tally in snap.scenarios.items():
            if tally.started is None or tally.complete:
                continue
            running = bool(tally.running)
            label = Text(f"  {name}", style="bold" if running else "")
            label.append(f" [{', '.join(tally.running)}]" if running else "", style="cyan")
            label.append(f"  {tally.done}/{tally.total} · {tally.summary()}", style="dim")
            grid.add_row(self._spinner(f"scenario {name}") if running else Text("·"), label,
                         Text(clock(snap.now - tally.started), style="dim"))
        lines: list[RenderableType] = [grid]
        if snap.scenarios:
            lines.append(Text(f"  {_counts(snap)}", style="dim"))
        if snap.tasks:
            background = " · ".join(f"{name} {clock(snap.now - since)}"
                                    for name, since in snap.tasks.items())
            lines.append(Text(f"  background: {background}", style="dim", no_wrap=True,
                              overflow="ellipsis"))
        return Group(*lines)
