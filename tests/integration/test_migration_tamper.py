"""The migration checks catch damage: a lost row, a changed row, a dropped index.

Provisions a real run (local PostgreSQL, S3, both MLflow versions), runs the migration drill
and damages the database right after `mlflow db upgrade`, as a faulty migration would.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.config import build_config
from harness.errors import UsageError
from harness.migration.drill import DrillSide, MigrationDrill, check_dump, pg_tool
from harness.progress import Progress
from harness.scenarios.test_migration import verify_entities, verify_rows, verify_schema
from harness.services.mlflow_server import MlflowServer, ServerSpec
from harness.services.pg_admin import PgServer
from harness.session import RunSession

pytestmark = pytest.mark.integration
SEED = Path(__file__).resolve().parents[2] / "harness" / "scenarios" / "clients" / "seed.py"

OLD, NEW = os.environ.get("HARNESS_TEST_FROM", "2.9.2"), os.environ.get("HARNESS_TEST_TO", "3.4.0")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunSession]:
    out = tmp_path_factory.mktemp("migration")
    config = build_config(from_mlflow=OLD, to_mlflow=NEW, out=str(out), provider="local")
    with RunSession(config, Progress(quiet=True)) as provisioned:
        provisioned.provision()
        yield provisioned


def _damage(server: PgServer, database: str) -> None:
    with server.connect(database) as conn:
        conn.execute("DELETE FROM metrics WHERE ctid = (SELECT ctid FROM metrics LIMIT 1)")
        conn.execute("UPDATE params SET value = 'tampered' "
                     "WHERE ctid = (SELECT ctid FROM params LIMIT 1)")
        conn.execute("DROP INDEX IF EXISTS index_metrics_run_uuid")


def _drill(session: RunSession, tamper: Any = None, dump: Path | None = None,
           run_id: str | None = None) -> dict[str, Any]:
    assert session.postgres is not None and session.s3 is not None
    sides = {role: DrillSide(role, rt.command, rt.env.path, rt.client)
             for role, rt in session.sides.items()}
    return MigrationDrill(session.postgres, session.s3.location, sides["from"], sides["to"],
                          run_id or session.config.run_id, session.log_dir,
                          after_upgrade=tamper, dump=dump).run()


def test_damage_after_upgrade_is_detected(session: RunSession) -> None:
    report = _drill(session, _damage)
    damaged = {row["table"]: row for row in report["rows"]}
    assert damaged["metrics"]["missing"], report["rows"]
    assert damaged["params"]["changed"], report["rows"]
    (tampered,) = [f for f in damaged["params"]["fields"] if f["column"] == "value"]
    assert tampered["after"] == "tampered" and tampered["after_chars"] == 8, tampered
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


def test_drill_on_a_production_dump(session: RunSession, tmp_path: Path) -> None:
    """--from-dump: a pg_dump of an old database is restored into a copy and fully checked."""
    assert session.postgres is not None and session.s3 is not None
    source = f"muh_{session.config.run_id}_prod"
    dsn = session.postgres.create_database(source)
    old = session.sides["from"]
    with MlflowServer("prod", old.command, ServerSpec(dsn, session.s3.location, "prod", workers=2),
                      session.log_dir) as server:
        seeded = old.client.call(SEED, "seed", tracking_uri=server.url, prefix="prod")
    dump = tmp_path / "prod.dump"
    subprocess.run([pg_tool("pg_dump"), "-Fc", "-f", str(dump), dsn], check=True, timeout=120)
    session.postgres.drop_database(source)
    assert check_dump(dump) > 10

    report = _drill(session, dump=dump, run_id=f"{session.config.run_id}d")
    assert report["restore"]["file"] == str(dump)
    assert report["seed"]["counts"] is None  # nothing seeded: the dump's data is checked
    verify_rows(report)
    verify_schema(report)
    verify_entities(report)
    assert report["row_counts"]["metrics"] == seeded["counts"]["metric_rows"]  # 9,000 + edges
    assert len(report["rows"]) == 0 and report["rows_checked"] > 9000
    assert report["rollback"]["old_server_on_upgraded_db"] == "refused"
    assert report["rollback"]["restored_identical"]


def test_a_file_that_is_not_a_dump_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "x.dump"
    bogus.write_text("SELECT 1;")
    with pytest.raises(UsageError, match="not a pg_dump archive"):
        check_dump(bogus)
