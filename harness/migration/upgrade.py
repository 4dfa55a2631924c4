"""The new version's `mlflow db upgrade` on a database, timed per revision (`timed.py`), with
what the drill watches meanwhile: the database's size (sampled every SIZE_POLL_S) and a
writer on the old schema's tables (`writer.py`).

`SLOW_SITE` is the drill's test hook (`--inject-slow-migration`): loaded into the upgrade's
process only when asked for, never in a normal run.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ServiceError
from harness.migration.database import alembic_revision
from harness.migration.timed import TimedUpgrade, run_timed
from harness.services.mlflow_command import MlflowCommand
from harness.services.pg_admin import PgServer

UPGRADE_TIMEOUT_S = 1800.0
SIZE_POLL_S = 0.5
SLOW_SITE = Path(__file__).resolve().parent / "slow_site"
SLOW_ENV = "MUH_SLOW_MIGRATION"


def slow_step_env(slow: tuple[str, float] | None) -> dict[str, str]:
    """The variables that plant a slow step in REVISION (none without one)."""
    if slow is None:
        return {}
    return {"PYTHONPATH": str(SLOW_SITE), SLOW_ENV: f"{slow[0]}={slow[1]:g}"}


def upgrade(command: MlflowCommand, server: PgServer, database: str, log: Path,
            slow: tuple[str, float] | None = None) -> TimedUpgrade:
    """`mlflow db upgrade` of `database` with the new version, timed per revision; raises
    ServiceError (with the log's end) when it fails."""
    before = alembic_revision(server, database)
    container = command.new_container("db-upgrade")
    try:
        timed = run_timed(
            "mlflow db upgrade",
            command.argv(["db", "upgrade", server.dsn(database)], container=container),
            log, UPGRADE_TIMEOUT_S, env={**os.environ, **slow_step_env(slow)},
            committed=lambda: alembic_revision(server, database) != before)
    finally:
        command.forget_container(container)
    if timed.code != 0:
        raise ServiceError(f"mlflow db upgrade failed with code {timed.code} (log: {log})",
                           logs=log.read_text(errors="replace")[-3000:])
    return timed


@dataclass
class DatabaseSize:
    """The database's size from `start` to `stop`: before, peak and after, in bytes."""

    server: PgServer
    database: str
    before: int = 0
    peak: int = 0
    after: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def size(self) -> int:
        with self.server.connect() as conn:
            row = conn.execute("SELECT pg_database_size(%s)", (self.database,)).fetchone()
        return int(str(row[0])) if row else 0

    def start(self) -> DatabaseSize:
        self.before = self.peak = self.size()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="database-size")
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(SIZE_POLL_S):
            try:
                self.peak = max(self.peak, self.size())
            except ServiceError:  # the server busy past its connect timeout: next sample
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.after = self.size()
        self.peak = max(self.peak, self.after)

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "peak": self.peak, "after": self.after}
