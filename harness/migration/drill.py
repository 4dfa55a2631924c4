"""The migration drill, on its own database of the run's PostgreSQL:

seed through the old version → fingerprint (SQL rows, schema, REST entities) → snapshot →
`mlflow db upgrade` with the new version → fingerprint again and compare → the new server
serves everything, predicts identically and accepts writes → the old server refuses the
upgraded database → restore the snapshot → the old server serves it again.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.agent.client import Agent
from harness.errors import HarnessError, ProviderUnavailable, ServiceError, UsageError
from harness.migration.database import (
    Schema,
    alembic_revision,
    changed_fields,
    diff_schema,
    edge_rows,
    schema,
)
from harness.migration.digests import (
    Exclude,
    TableDigest,
    changed_tables,
    compare_changed,
    table_digests,
)
from harness.migration.downtime import attribute
from harness.migration.revisions import Revision, RevisionGraph
from harness.migration.upgrade import UPGRADE_TIMEOUT_S as UPGRADE_TIMEOUT_S
from harness.migration.upgrade import DatabaseSize, upgrade
from harness.migration.writer import OldSchemaWriter
from harness.resources import client_module
from harness.results.normalize import flatten
from harness.runtime.processes import run_to_completion
from harness.scale.samples import Targets, read_rest
from harness.services.base import PostgresService, S3Location
from harness.services.mlflow_command import MlflowCommand
from harness.services.mlflow_server import MlflowServer, ServerSpec
from harness.services.pg_admin import PgServer

CLIENT = client_module("seed")
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
class Before:
    """The upgraded database's state before the upgrade, as the comparisons need it."""

    digests: dict[str, TableDigest]
    schema: Schema
    revision: str | None


@dataclasses.dataclass
class MigrationDrill:
    postgres: PostgresService
    s3: S3Location
    old: DrillSide
    new: DrillSide
    run_id: str
    log_dir: Path
    dump: Path | None = None  # a pg_dump -Fc of a real database: restored, never seeded
    template: str | None = None  # a store of production size (--scale) to start from
    targets: Targets | None = None  # that store's samples, read through REST before and after
    slow: tuple[str, float] | None = None  # a planted slow step (--inject-slow-migration)
    after_upgrade: Tamper | None = None  # lets tests damage the upgraded database
    snapshots: set[str] = dataclasses.field(default_factory=set)
    footprint: Exclude = dataclasses.field(default_factory=dict)  # the writer's rows

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
    def writer_name(self) -> str:
        return f"{self.prefix}-writer"

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

    def _inventory(self, side: DrillSide, url: str) -> dict[str, Any]:
        """What the server serves of the seeded entities (or of all of a dump), and of the
        store's samples."""
        found: dict[str, Any] = self._call(side, "inventory", url, prefix=self._scope,
                                           skip=[self.writer_name])
        if self.targets is not None:
            found["store"] = read_rest(url, self.targets)
        return found

    def run(self) -> dict[str, Any]:
        pg = self.postgres.server
        report: dict[str, Any] = {"database": self.database}
        self.postgres.create_database(self.database, template=self.template)
        try:
            return self._run(pg, report)
        finally:
            for database in (self.database, self.snapshot):
                self.postgres.drop_database(database)

    def _run(self, pg: PgServer, report: dict[str, Any]) -> dict[str, Any]:
        seeded, before = self._seed(report)
        state = self._before(pg, report, seeded)
        new_head = RevisionGraph.from_env(self.new.env_path).head
        report["guard_refused_unsnapshotted"] = self._guard_refuses(pg, new_head)
        self.postgres.create_database(self.snapshot, template=self.database)
        self.snapshots.add(self.database)
        guard_new_version_start(pg, self.database, new_head, self.snapshots)

        report["upgrade"] = self._upgrade(pg, state.revision)
        if self.after_upgrade is not None:
            self.after_upgrade(pg, self.database)
        self._compare_rows(pg, report, state.digests)
        report["schema_diff"] = dataclasses.asdict(diff_schema(state.schema,
                                                               schema(pg, self.database)))
        self._after(report, seeded, before)
        report["rollback"] = self._rollback_drill(before)
        return report

    def _seed(self, report: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Restore the dump or seed through the old version; (what was seeded, what the old
        server serves)."""
        seeded: dict[str, Any] = {}
        if self.dump is not None:
            report["restore"] = restore_dump(self.dump, self.postgres.server, self.database,
                                             self.log_dir)
        with self._server(self.old, "migration-old") as server:
            if self.dump is None:
                seeded = self._call(self.old, "seed", server.url, prefix=self.prefix)
            before = self._inventory(self.old, server.url)
        report["seed"] = {k: seeded.get(k) for k in ("counts", "seconds")}
        report["seed"]["edges_seconds"] = (seeded.get("edges") or {}).get("seconds")
        return seeded, before

    def _before(self, pg: PgServer, report: dict[str, Any], seeded: dict[str, Any]) -> Before:
        state = Before(table_digests(pg, self.database), schema(pg, self.database),
                       alembic_revision(pg, self.database))
        edges = seeded.get("edges")
        if edges:
            report["edge_rows"] = edge_rows(pg, self.database, {
                "run_uuid": edges["run_ids"], "experiment_id": [str(edges["experiment_id"])],
                "name": [edges["model_name"]]})
        report["row_counts"] = {t: d.rows for t, d in state.digests.items()}
        return state

    def _compare_rows(self, pg: PgServer, report: dict[str, Any],
                      before: dict[str, TableDigest]) -> None:
        """Every old row in its old columns: by digest, row by row where they differ."""
        after = table_digests(pg, self.database, before, self.footprint)
        changed = changed_tables(before, after)
        rows, snapshot_prints = compare_changed(pg, self.snapshot, self.database, before,
                                                changed)
        report["rows"] = [
            {**dataclasses.asdict(r), "fields": changed_fields(
                pg, self.snapshot, self.database, snapshot_prints[r.table], r.table, r)}
            for r in rows if not r.intact]
        report["rows_checked"] = sum(d.rows for d in before.values())
        report["tables_compared_by_row"] = changed

    def _after(self, report: dict[str, Any], seeded: dict[str, Any],
               before: dict[str, Any]) -> None:
        """The new server on the upgraded data: what it serves, predictions, new writes."""
        with self._server(self.new, "migration-new") as server:
            after = self._inventory(self.new, server.url)
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

    def _guard_refuses(self, pg: PgServer, new_head: str) -> bool:
        try:
            guard_new_version_start(pg, self.database, new_head, self.snapshots)
        except UnsafeMigration:
            return True
        return False

    def _upgrade(self, pg: PgServer, revision_before: str | None) -> dict[str, Any]:
        """The upgrade, timed per revision, while a writer logs to the old schema's tables
        and the database's size is watched."""
        graph = RevisionGraph.from_env(self.new.env_path)
        if self.slow is not None:
            check_slow_step(self.slow, graph.between(revision_before, graph.head))
        writer = OldSchemaWriter(pg, self.database, self.writer_name)
        writer.prepare()
        size = DatabaseSize(pg, self.database).start()
        writer.start()
        try:
            timed = upgrade(self.new.command, pg, self.database,
                            self.log_dir / "migration-db-upgrade.log", self.slow)
        finally:
            writer.stop()
            size.stop()
        self.footprint = writer.footprint()
        revision_after = alembic_revision(pg, self.database)
        assert revision_after is not None
        return {
            "seconds": round(timed.seconds, 2),
            "from_revision": revision_before,
            "to_revision": revision_after,
            "new_head": graph.head,
            "revisions": [
                dataclasses.asdict(r) for r in graph.between(revision_before, revision_after)
            ],
            "applied_in_log": len(timed.revisions),
            "timing": timed.to_dict(),
            "writer": attribute(writer.writes, timed),
            "database_bytes": size.to_dict(),
            "planted_slow_step": list(self.slow) if self.slow else None,
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
            restored = self._inventory(self.old, server.url)
        result["restored_identical"] = restored == before
        result["restored_changes"] = entity_changes(before, restored)[:20]
        return result


def check_slow_step(slow: tuple[str, float], revisions: list[Revision]) -> None:
    """A planted slow step must be in a revision this upgrade applies."""
    if slow[0] not in {r.id for r in revisions}:
        raise UsageError(f"--inject-slow-migration {slow[0]}: not a revision this upgrade "
                         f"applies ({', '.join(r.id for r in revisions) or 'none'})")


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
