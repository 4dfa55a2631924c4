"""The migration checks catch damage: a lost row, a changed row, a dropped index.

Provisions a real run (local PostgreSQL, S3, both MLflow versions), runs the migration drill
and damages the database right after `mlflow db upgrade`, as a faulty migration would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.config import build_config
from harness.migration.drill import DrillSide, MigrationDrill
from harness.progress import Progress
from harness.services.pg_admin import PgServer
from harness.session import RunSession
from scenarios.test_migration import verify_entities, verify_rows, verify_schema

pytestmark = pytest.mark.integration

OLD, NEW = os.environ.get("HARNESS_TEST_FROM", "2.9.2"), os.environ.get("HARNESS_TEST_TO", "3.4.0")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[RunSession]:
    config = build_config(from_spec=OLD, to_spec=NEW, out_dir=str(tmp_path), provider="local")
    with RunSession(config, Progress(quiet=True)) as provisioned:
        provisioned.provision()
        yield provisioned


def _damage(server: PgServer, database: str) -> None:
    with server.connect(database) as conn:
        conn.execute("DELETE FROM metrics WHERE ctid = (SELECT ctid FROM metrics LIMIT 1)")
        conn.execute("UPDATE params SET value = 'tampered' "
                     "WHERE ctid = (SELECT ctid FROM params LIMIT 1)")
        conn.execute("DROP INDEX IF EXISTS index_metrics_run_uuid")


def _drill(session: RunSession, tamper: Any) -> dict[str, Any]:
    assert session.postgres is not None and session.s3 is not None
    sides = {role: DrillSide(role, rt.env.bin, rt.env.path, rt.client)
             for role, rt in session.sides.items()}
    return MigrationDrill(session.postgres, session.s3.location, sides["from"], sides["to"],
                          session.config.run_id, session.log_dir, after_upgrade=tamper).run()


def test_damage_after_upgrade_is_detected(session: RunSession) -> None:
    report = _drill(session, _damage)
    damaged = {row["table"]: row for row in report["rows"]}
    assert damaged["metrics"]["missing"], report["rows"]
    assert damaged["params"]["changed"], report["rows"]
    assert "index_metrics_run_uuid" in report["schema_diff"]["indexes_removed"]
    with pytest.raises(AssertionError, match="rows lost or changed"):
        verify_rows(report)
    with pytest.raises(AssertionError, match="indexes lost"):
        verify_schema(report)
    with pytest.raises(AssertionError):
        verify_entities(report)  # the REST API serves the damage too
    paths = {change["path"] for change in report["entity_changes"]}
    assert any(".params." in path for path in paths), paths
    assert any("history" in path for path in paths), paths
