"""What a phase is: a name (its line on the console and its key in `results.json`'s `phases`),
when it is enabled, and what it does against the provisioned run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from harness.config import RunConfig
from harness.progress import Progress
from harness.results.model import RunResults, RunStatus
from harness.session import RunSession


@dataclass
class RunContext:
    """What a phase works with, and where it puts its result."""

    config: RunConfig
    session: RunSession
    progress: Progress
    results: RunResults
    stopped: bool = False  # a phase found the run cannot go on (a usage error): later ones skip

    def stop(self, error: str) -> None:
        """The run cannot go on: an error (exit 2), and no further phase runs."""
        self.results.status, self.results.error = RunStatus.ERROR, error
        self.stopped = True


class Phase(Protocol):
    name: str

    def enabled(self, config: RunConfig) -> bool:
        """Whether the options ask for this phase at all."""

    def run(self, context: RunContext) -> None:
        """Do the phase's work; its result goes into `context.results`."""
