"""A writer that keeps logging to the old schema's tables while `mlflow db upgrade` runs.

What a team's training jobs and registry clients do against the old server, written the way
the old server writes it (each write one transaction, straight to the tables): metrics with
their latest value, params and tags, new runs, and a model version's tags and description.
One thread per kind, so one kind held by a lock does not hold the others up. Each write's
time is its wait when the upgrade holds a lock it needs; a write the upgrade breaks (a
changed table refuses the old shape, a deadlock) is a failed write. `attribute` (in `downtime.py`)
places every write in the revision that was running when it started.

Its rows are its own (an experiment, runs and a registered model made just before the
upgrade, after the drill's fingerprints and snapshot): the row comparison leaves them out
(`footprint`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from harness.services.pg_admin import PgServer

PAUSE_S = 0.05  # between two writes of one kind
# The drill's own writer must never abort the upgrade it measures. A write waits for a lock at
# most LOCK_TIMEOUT, lets go of the locks it holds and tries again (its wait is the time until
# one attempt goes through): the upgrade never waits on the writer longer than that, well
# under PostgreSQL's 1 s before it looks for a deadlock. And in a deadlock the writer gives way
# (it looks after DEADLOCK_TIMEOUT, so its transaction is the one aborted): a failed write. A
# client that waits without a timeout could abort the upgrade instead.
LOCK_TIMEOUT = "200ms"
DEADLOCK_TIMEOUT = "100ms"
JOIN_S = 30.0  # a write still running this long after the upgrade ended is left behind
KINDS = ("metrics", "params and tags", "new runs", "registry")


@dataclass(frozen=True)
class Write:
    kind: str
    began: float  # monotonic
    ended: float
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.began

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class OldSchemaWriter:
    """Writes of every kind in a loop from `start` to `stop`; `writes` is what happened."""

    server: PgServer
    database: str
    name: str  # the writer's experiment and registered model
    writes: list[Write] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    experiment_id: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(self) -> None:
        """Its experiment, a run to log to and a model version, in the old schema."""
        now = int(time.time() * 1000)
        with self.server.connect(self.database) as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO experiments (name, artifact_location, lifecycle_stage, "
                "creation_time, last_update_time) VALUES (%s, %s, 'active', %s, %s) "
                "RETURNING experiment_id", (self.name, "mlflow-artifacts:/writer", now, now)
            ).fetchone()
            assert row is not None
            self.experiment_id = int(str(row[0]))
            self._insert_run(conn, now)
            conn.execute("INSERT INTO registered_models (name, creation_time, "
                         "last_updated_time) VALUES (%s, %s, %s)", (self.name, now, now))
            conn.execute("INSERT INTO model_versions (name, version, creation_time, "
                         "last_updated_time, current_stage, source, run_id, status) VALUES "
                         "(%s, 1, %s, %s, 'None', 'writer', %s, 'READY')",
                         (self.name, now, now, self.runs[0]))

    def _insert_run(self, conn: Any, now: int) -> None:
        run = uuid.uuid4().hex
        conn.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, user_id, "
                     "status, start_time, lifecycle_stage, artifact_uri, experiment_id) "
                     "VALUES (%s, 'writer', 'LOCAL', 'writer', 'writer', 'RUNNING', %s, "
                     "'active', 'mlflow-artifacts:/writer', %s)",
                     (run, now, self.experiment_id))
        conn.execute("INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', "
                     "'writer', %s)", (run,))
        with self._lock:
            self.runs.append(run)

    def footprint(self) -> dict[str, tuple[str, list[Any]]]:
        """table → (column, values) of the rows the writer made: left out of comparisons."""
        runs: tuple[str, list[Any]] = ("run_uuid", list(self.runs))
        named: tuple[str, list[Any]] = ("name", [self.name])
        return {"experiments": ("experiment_id", [self.experiment_id]), "runs": runs,
                "tags": runs, "params": runs, "metrics": runs, "latest_metrics": runs,
                "registered_models": named, "model_versions": named,
                "model_version_tags": named}

    def start(self) -> None:
        steps: dict[str, Callable[[Any, int, int], None]] = {
            "metrics": self._metrics, "params and tags": self._params_and_tags,
            "new runs": lambda conn, now, n: self._insert_run(conn, now),
            "registry": self._registry}
        for kind, step in steps.items():
            thread = threading.Thread(target=self._loop, args=(kind, step), daemon=True,
                                      name=f"upgrade-writer-{kind}")
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + JOIN_S
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _loop(self, kind: str, step: Callable[[Any, int, int], None]) -> None:
        try:
            conn = self.server.connect(self.database)
        except Exception as error:  # noqa: BLE001 - recorded as this kind's failed write
            now = time.monotonic()
            self._record(Write(kind, now, now, _first_line(error)))
            return
        with conn:
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            try:
                conn.execute(f"SET deadlock_timeout = '{DEADLOCK_TIMEOUT}'")
            except psycopg.Error:  # not a superuser: the server's own deadlock_timeout
                pass
            count = 0
            while not self._stop.is_set():
                count += 1
                began = time.monotonic()
                failed = self._write(conn, step, count, began)
                self._record(Write(kind, began, time.monotonic(), failed))
                self._stop.wait(PAUSE_S)

    def _write(self, conn: Any, step: Callable[[Any, int, int], None], count: int,
               began: float) -> str:
        """One write, tried again each time a lock it waits for is not granted within
        LOCK_TIMEOUT (its locks are let go meanwhile); "" once done, else why it failed."""
        while True:
            try:
                with conn.transaction():
                    step(conn, int(time.time() * 1000), count)
                return ""
            except psycopg.errors.LockNotAvailable:
                if self._stop.is_set() and time.monotonic() - began > JOIN_S:
                    return "still waiting for a lock when the upgrade had ended"
            except psycopg.Error as failure:
                return _first_line(failure)

    def _record(self, write: Write) -> None:
        with self._lock:
            self.writes.append(write)

    def _metrics(self, conn: Any, now: int, count: int) -> None:
        run = self.runs[0]
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (%s, %s, %s, %s, %s, false)",
                [(f"m{k}", count * 0.001, now, run, count) for k in range(10)])
        for k in range(10):
            _upsert(conn, "UPDATE latest_metrics SET value = %s, timestamp = %s, step = %s "
                    "WHERE key = %s AND run_uuid = %s", (count * 0.001, now, count, f"m{k}", run),
                    "INSERT INTO latest_metrics (value, timestamp, step, key, run_uuid, is_nan) "
                    "VALUES (%s, %s, %s, %s, %s, false)")

    def _params_and_tags(self, conn: Any, now: int, count: int) -> None:
        run = self.runs[0]
        conn.execute("INSERT INTO params (key, value, run_uuid) VALUES (%s, %s, %s)",
                     (f"p{count}", str(now), run))
        _upsert(conn, "UPDATE tags SET value = %s WHERE key = 'progress' AND run_uuid = %s",
                (str(count), run), "INSERT INTO tags (value, run_uuid, key) VALUES "
                "(%s, %s, 'progress')")

    def _registry(self, conn: Any, now: int, count: int) -> None:
        conn.execute("UPDATE model_versions SET last_updated_time = %s, description = %s "
                     "WHERE name = %s AND version = 1", (now, f"write {count}", self.name))
        _upsert(conn, "UPDATE model_version_tags SET value = %s WHERE key = 'progress' AND "
                "name = %s AND version = 1", (str(count), self.name),
                "INSERT INTO model_version_tags (value, name, key, version) VALUES "
                "(%s, %s, 'progress', 1)")


def _upsert(conn: Any, update: str, values: tuple[Any, ...], insert: str) -> None:
    """An UPDATE, or the INSERT of the same values when it found no row: what MLflow's
    `session.merge` does (no ON CONFLICT, which a key the upgrade changed would refuse)."""
    if conn.execute(update, values).rowcount == 0:
        conn.execute(insert, values)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]
