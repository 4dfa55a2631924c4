"""The new version's `mlflow db upgrade` on a database, timed per revision (`timed.py`), with
what the drill watches meanwhile: the database's size (sampled every SIZE_POLL_S) and a
writer on the old schema's tables (`writer.py`).

`SITE` is loaded into every upgrade the harness runs from an environment: it writes each
revision alembic starts to the log (`[muh-revision] …`: MLflow 3.17 no longer configures
alembic's logging, so alembic's own line is lost; up to 3.4 alembic writes it, the configuration
drops the harness's handler, and alembic's line is read instead), and, only with
`--inject-slow-migration` (a test hook, never in a normal run), plants the slow step. An
upgrade run from an image does not load it: alembic's own lines, where the version writes them.
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
from harness.services.mlflow_command import SECRET, SECRET_ENV, MlflowCommand
from harness.services.pg_admin import PgServer

UPGRADE_TIMEOUT_S = 1800.0
SIZE_POLL_S = 0.5
SITE = Path(__file__).resolve().parent / "upgrade_site"
SLOW_ENV = "MUH_SLOW_MIGRATION"
LOG_ENV = "MUH_UPGRADE_LOG"


def site_env(command: MlflowCommand, slow: tuple[str, float] | None) -> dict[str, str]:
    """The variables that load the hooks: the revisions' lines, and a slow step in REVISION
    (none from an image: the upgrade runs in its container)."""
    if command.in_container:
        return {}
    return {"PYTHONPATH": str(SITE), LOG_ENV: "1",
            **({SLOW_ENV: f"{slow[0]}={slow[1]:g}"} if slow else {})}


def upgrade(command: MlflowCommand, server: PgServer, database: str, log: Path,
            slow: tuple[str, float] | None = None) -> TimedUpgrade:
    """`mlflow db upgrade` of `database` with the new version, timed per revision; raises
    ServiceError (with the log's end) when it fails."""
    before = alembic_revision(server, database)
    container = command.new_container("db-upgrade")
    try:
        timed = run_timed(
            "mlflow db upgrade",
            command.module_argv("mlflow", ["db", "upgrade", SECRET], container=container),
            log, UPGRADE_TIMEOUT_S,
            env={**os.environ, **site_env(command, slow), SECRET_ENV: server.dsn(database)},
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
