"""`mlflow db upgrade`, timed revision by revision.

Alembic logs `Running upgrade A -> B, description` as each revision starts. The harness reads
the upgrade's log while it runs (every POLL_S) and stamps each such line as it appears: a
revision runs from its line to the next one, the last one to the end of the process (its
commit and the interpreter's exit included). Everything before the first line is the new
version's start-up (imports, the connection, the schema check). MLflow runs every revision in
one transaction, so a lock a revision takes is held until the last one commits; the commit is
seen as the moment the database's alembic revision changes (polled every COMMIT_POLL_S), and
the last revision ends there, not at the process's exit (MLflow 3.x takes seconds to exit).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import Cancelled
from harness.runtime.processes import REGISTRY, spawn

POLL_S = 0.02
COMMIT_POLL_S = 0.1
APPLIED = re.compile(r"Running upgrade (\S+) -> (\S+), ?(.*)")
MARK = "[muh-revision] "  # the harness's own line for each revision (upgrade_site)


@dataclass
class RevisionTime:
    """One applied revision: when it started (monotonic) and how long it ran."""

    down: str
    revision: str
    description: str
    started: float
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("started")
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass
class TimedUpgrade:
    """The upgrade's exit code, its span (monotonic) and its revisions."""

    code: int
    began: float
    ended: float
    revisions: list[RevisionTime] = field(default_factory=list)
    committed: float | None = None  # when the new revision became visible

    @property
    def seconds(self) -> float:
        return self.ended - self.began

    @property
    def startup_seconds(self) -> float:
        """Until the first revision started: the new version's imports and connection."""
        return (self.revisions[0].started if self.revisions else self.ended) - self.began

    @property
    def exit_seconds(self) -> float:
        """From the commit to the process's end (0 when the commit was not seen)."""
        return self.ended - self.committed if self.committed is not None else 0.0

    def revision_at(self, moment: float) -> str:
        """The revision running at `moment` ("start-up" before the first, "after" past the
        commit, or the end when the commit was not seen)."""
        if moment >= (self.committed or self.ended):
            return "after"
        running = "start-up"
        for revision in self.revisions:
            if revision.started <= moment:
                running = revision.revision
        return running

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 2),
                "startup_seconds": round(self.startup_seconds, 2),
                "exit_seconds": round(self.exit_seconds, 2),
                "revisions": [r.to_dict() for r in self.revisions]}


class LogFollower:
    """New complete lines of a growing log file, each stamped when first read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.partial = b""

    def lines(self) -> list[tuple[float, str]]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except OSError:
            return []
        now = time.monotonic()
        self.offset += len(chunk)
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        return [(now, line.decode("utf-8", errors="replace")) for line in complete]


def applied_revision(stamp: float, line: str) -> RevisionTime | None:
    """The revision a log line says starts: alembic's own line or the harness's (`MARK`)."""
    found = APPLIED.search(line)
    if found is None:
        return None
    return RevisionTime(found[1], found[2], found[3].strip(), stamp)


def finish(revisions: list[RevisionTime], ended: float) -> None:
    """Each revision's time: until the next one started, the last until `ended`."""
    for current, following in zip(revisions, [*revisions[1:], None], strict=False):
        current.seconds = (following.started if following else ended) - current.started


def run_timed(name: str, argv: Sequence[str], log: Path, timeout: float,
              env: Mapping[str, str] | None = None,
              committed: Callable[[], bool] | None = None) -> TimedUpgrade:
    """Run the upgrade command, stamping each revision as its first log line appears (alembic
    may write its own beside the harness's) and the commit when `committed()` first says so;
    -1 as the code when it ran past `timeout` (stopped)."""
    follower = LogFollower(log)
    began = time.monotonic()
    process = spawn(name, argv, log, env=env)
    revisions: list[RevisionTime] = []
    code, commit_at, polled = -1, None, 0.0
    try:
        while True:
            alive = process.alive()
            for stamp, line in follower.lines():
                revision = applied_revision(stamp, line)
                if revision and revision.revision not in {r.revision for r in revisions}:
                    revisions.append(revision)
            now = time.monotonic()
            if committed is not None and commit_at is None and now - polled >= COMMIT_POLL_S:
                polled = now
                commit_at = now if revisions and committed() else None
            if not alive:
                code = process.popen.returncode
                break
            if REGISTRY.cancelled.is_set():
                raise Cancelled("run cancelled")
            if time.monotonic() - began > timeout:
                break
            time.sleep(POLL_S)
    finally:
        process.stop(grace_seconds=2)
    ended = time.monotonic()
    finish(revisions, commit_at or ended)
    return TimedUpgrade(code, began, ended, revisions, commit_at)
