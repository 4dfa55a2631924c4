"""The migration drill, on its own database of the run's PostgreSQL:

seed through the old version → fingerprint (SQL rows, schema, REST entities) → snapshot →
`mlflow db upgrade` with the new version → fingerprint again and compare → the new server
serves everything, predicts identically and accepts writes → the old server refuses the
upgraded database → restore the snapshot → the old server serves it again.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.agent.client import Agent
from harness.errors import HarnessError, ProviderUnavailable, ServiceError, UsageError
from harness.migration.database import (
    alembic_revision,
    changed_fields,
    compare_rows,
    diff_schema,
    edge_rows,
    fingerprint,
    schema,
)
from harness.migration.revisions import RevisionGraph
from harness.resources import client_module
from harness.results.normalize import flatten
from harness.runtime.processes import run_to_completion
from harness.services.base import PostgresService, S3Location
from harness.services.mlflow_command import SECRET, SECRET_ENV, MlflowCommand
from harness.services.mlflow_server import MlflowServer, ServerSpec
from harness.services.pg_admin import PgServer

CLIENT = client_module("seed")
UPGRADE_TIMEOUT_S = 1800.0
Tamper = Callable[[PgServer, str], None]


class UnsafeMigration(HarnessError):
    """A new-version process was about to touch an old database that has no snapshot."""


def guard_new_version_start(
    server: PgServer, database: str, target_head: str, snapshots: set[str]
) -> None:
    """Refuse to let a new version touch an old, un-snapshotted database (it migrates it)."""
    current = alembic_revision(server, database)
    if current is not None and current != target_head and database not in snapshots:
        raise UnsafeMigration(
            f"database {database} is at alembic revision {current}; a server at {target_head} "
            "would migrate it in place and there is no snapshot to roll back to"
        )


@dataclasses.dataclass
class DrillSide:
    label: str
    command: MlflowCommand
    env_path: Path
    client: Agent


@dataclasses.dataclass
class MigrationDrill:
    postgres: PostgresService
    s3: S3Location
    old: DrillSide
    new: DrillSide
    run_id: str
    log_dir: Path
    scale: int = 1
    dump: Path | None = None  # a pg_dump -Fc of a real database: restored, never seeded
    after_upgrade: Tamper | None = None  # lets tests damage the upgraded database
    snapshots: set[str] = dataclasses.field(default_factory=set)

    @property
    def database(self) -> str:
        return f"muh_{self.run_id}_migration"

    @property
    def snapshot(self) -> str:
        return f"{self.database}_snap"

    @property
    def prefix(self) -> str:
        return f"muh-{self.run_id}-migration"

    @property
    def _scope(self) -> str | None:
        """Which entities to compare: the seeded ones, or all of a restored dump."""
        return None if self.dump is not None else self.prefix

    def _server(self, side: DrillSide, label: str) -> MlflowServer:
        return MlflowServer(label, side.command, ServerSpec(
            self.postgres.dsn(self.database), self.s3, "migration-artifacts",
            workers=2), self.log_dir)  # a helper, not the deployed server: fixed workers

    def _call(self, side: DrillSide, function: str, url: str, **kwargs: Any) -> Any:
        return side.client.call(CLIENT, function, timeout=1800, tracking_uri=url, **kwargs)

    def run(self) -> dict[str, Any]:
        pg = self.postgres.server
        report: dict[str, Any] = {"database": self.database}
        self.postgres.create_database(self.database)
        try:
            return self._run(pg, report)
        finally:
            for database in (self.database, self.snapshot):
                self.postgres.drop_database(database)

    def _run(self, pg: PgServer, report: dict[str, Any]) -> dict[str, Any]:
        seeded: dict[str, Any] = {}
        if self.dump is not None:
            report["restore"] = restore_dump(self.dump, self.postgres.server, self.database,
                                             self.log_dir)
        with self._server(self.old, "migration-old") as server:
            if self.dump is None:
                seeded = self._call(self.old, "seed", server.url, prefix=self.prefix,
                                    scale=self.scale)
            before = self._call(self.old, "inventory", server.url, prefix=self._scope)
        report["seed"] = {k: seeded.get(k) for k in ("counts", "seconds")}
        report["seed"]["edges_seconds"] = (seeded.get("edges") or {}).get("seconds")
        rows_before = fingerprint(pg, self.database)
        edges = seeded.get("edges")
        if edges:
            report["edge_rows"] = edge_rows(pg, self.database, {
                "run_uuid": edges["run_ids"], "experiment_id": [str(edges["experiment_id"])],
                "name": [edges["model_name"]]})
        schema_before = schema(pg, self.database)
        revision_before = alembic_revision(pg, self.database)
        report["row_counts"] = {t: len(f.rows) for t, f in rows_before.items()}

        new_head = RevisionGraph.from_env(self.new.env_path).head
        report["guard_refused_unsnapshotted"] = self._guard_refuses(pg, new_head)
        self.postgres.create_database(self.snapshot, template=self.database)
        self.snapshots.add(self.database)
        guard_new_version_start(pg, self.database, new_head, self.snapshots)

        report["upgrade"] = self._upgrade(pg, revision_before)
        if self.after_upgrade is not None:
            self.after_upgrade(pg, self.database)

        columns = {t: f.columns for t, f in rows_before.items()}
        keys = {t: f.key for t, f in rows_before.items()}
        rows = compare_rows(rows_before, fingerprint(pg, self.database, columns, keys))
        report["rows"] = [
            {**dataclasses.asdict(r), "fields": changed_fields(
                pg, self.snapshot, self.database, rows_before[r.table], r.table, r)}
            for r in rows if not r.intact]
        report["rows_checked"] = sum(r.rows_before for r in rows)
        schema_after = schema(pg, self.database)
        report["schema_diff"] = dataclasses.asdict(diff_schema(schema_before, schema_after))

        with self._server(self.new, "migration-new") as server:
            after = self._call(self.new, "inventory", server.url, prefix=self._scope)
            name = seeded.get("model_name")
            report["predictions_equal"] = {
                version: self._call(self.new, "predict_registered", server.url, name=name,
                                    version=version) == seeded["predictions"]
                for version in ("1", "2", "4")
            } if name else {}
            report["writes_after_upgrade"] = self._call(
                self.new, "write_after_upgrade", server.url, prefix=self.prefix, model_name=name
            )
        report["entity_changes"] = entity_changes(before, after)
        report["rollback"] = self._rollback_drill(before)
        return report

    def _guard_refuses(self, pg: PgServer, new_head: str) -> bool:
        try:
            guard_new_version_start(pg, self.database, new_head, self.snapshots)
        except UnsafeMigration:
            return True
        return False

    def _upgrade(self, pg: PgServer, revision_before: str | None) -> dict[str, Any]:
        log = self.log_dir / "migration-db-upgrade.log"
        began = time.monotonic()
        command = self.new.command
        container = command.new_container("db-upgrade")
        try:
            code = run_to_completion(
                "mlflow db upgrade",
                command.module_argv("mlflow", ["db", "upgrade", SECRET], container=container),
                log, timeout=UPGRADE_TIMEOUT_S,
                env={**os.environ, SECRET_ENV: self.postgres.dsn(self.database)},
            )
        finally:
            command.forget_container(container)
        seconds = time.monotonic() - began
        if code != 0:
            raise ServiceError(f"mlflow db upgrade failed with code {code} (log: {log})",
                               logs=log.read_text(errors="replace")[-3000:])
        revision_after = alembic_revision(pg, self.database)
        assert revision_after is not None
        graph = RevisionGraph.from_env(self.new.env_path)
        text = log.read_text(errors="replace")
        applied = re.findall(r"Running upgrade (\S+) -> (\S+), (.*)", text)
        return {
            "seconds": round(seconds, 2),
            "from_revision": revision_before,
            "to_revision": revision_after,
            "new_head": graph.head,
            "revisions": [
                dataclasses.asdict(r) for r in graph.between(revision_before, revision_after)
            ],
            "applied_in_log": len(applied),
        }

    def _rollback_drill(self, before: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        try:
            with self._server(self.old, "rollback-old-on-upgraded"):
                result["old_server_on_upgraded_db"] = "started"
        except ServiceError as error:
            refusal = [line for line in error.logs.splitlines() if "revision" in line.lower()]
            result["old_server_on_upgraded_db"] = "refused"
            result["refusal"] = refusal[-1].strip()[:300] if refusal else str(error)[:300]
        self.postgres.drop_database(self.database)
        self.postgres.create_database(self.database, template=self.snapshot)
        with self._server(self.old, "rollback-old-on-restored") as server:
            restored = self._call(self.old, "inventory", server.url, prefix=self._scope)
        result["restored_identical"] = restored == before
        result["restored_changes"] = entity_changes(before, restored)[:20]
        return result


def pg_tool(name: str) -> str:
    """A PostgreSQL client tool (pg_restore, pg_dump) from PATH or the server binaries."""
    found = shutil.which(name)
    if found:
        return found
    try:
        from harness.services.postgres_local import find_binaries

        candidate = find_binaries().bin_dir / name
    except ProviderUnavailable:
        candidate = None
    if candidate is None or not candidate.exists():
        raise ProviderUnavailable(f"{name} not found: install the PostgreSQL client tools")
    return str(candidate)


def check_dump(path: Path) -> int:
    """Fail with one line unless `path` is a pg_dump archive; returns its table-data entries."""
    if not path.is_file():
        raise UsageError(f"--from-dump {str(path)!r}: no such file")
    proc = subprocess.run([pg_tool("pg_restore"), "--list", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["unreadable"])[-1]
        raise UsageError(
            f"--from-dump {str(path)!r} is not a pg_dump archive (use pg_dump -Fc): {reason}"
        )
    return sum(1 for line in proc.stdout.splitlines() if " TABLE DATA " in line)


def restore_dump(path: Path, server: PgServer, database: str, log_dir: Path) -> dict[str, Any]:
    """Restore a copy of the dump into the run's own database; the original is never touched.
    The password goes to pg_restore in PGPASSWORD, not in its arguments."""
    log = log_dir / "migration-pg-restore.log"
    began = time.monotonic()
    code = run_to_completion(
        "pg_restore",
        [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
         "-h", server.host, "-p", str(server.port), "-U", server.user, "-d", database,
         str(path)],
        log, timeout=UPGRADE_TIMEOUT_S, env={**os.environ, "PGPASSWORD": server.password},
    )
    if code != 0:
        raise ServiceError(f"pg_restore of {path} failed with code {code} (log: {log})",
                           logs=log.read_text(errors="replace")[-3000:])
    return {"file": str(path), "seconds": round(time.monotonic() - began, 2)}


SHOWN = 80  # characters of a changed text shown in a report; its length is always given


def entity_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Every REST-visible field of every seeded entity that differs (ids included); a text
    is named with its length before and after, and shortened to SHOWN characters."""
    old, new = flatten(before), flatten(after)
    changes = []
    for path in sorted(set(old) | set(new)):
        was, now = old.get(path, "<absent>"), new.get(path, "<absent>")
        if was == now:
            continue
        change: dict[str, Any] = {"path": path, "before": _shown(was), "after": _shown(now)}
        if isinstance(was, str) and isinstance(now, str):
            change["before_chars"] = len(was) if path in old else None
            change["after_chars"] = len(now) if path in new else None
        changes.append(change)
    return changes


def _shown(value: Any) -> Any:
    return value[:SHOWN] + "…" if isinstance(value, str) and len(value) > SHOWN else value
