"""At scale on a real PostgreSQL: a large table's indexes and constraints taken off and put back
by the same definitions, and row comparison by table digest (row by row only where it differs,
the writer's rows left out)."""

from __future__ import annotations

import pytest

from harness.migration.database import schema
from harness.migration.digests import changed_tables, compare_changed, table_digests
from harness.scale.bulk import put_back, rebuild_plan, take_off
from harness.services.postgres_local import LocalPostgres
from tests.unit.test_migration_parts import postgres  # noqa: F401 - the fixture

SCHEMA = (
    "CREATE TABLE runs (run_uuid varchar(32) PRIMARY KEY, name varchar(250))",
    "CREATE TABLE metrics (key varchar(250) NOT NULL, value float NOT NULL, "
    "run_uuid varchar(32) NOT NULL, step bigint NOT NULL DEFAULT 0, "
    "CONSTRAINT metric_pk PRIMARY KEY (key, run_uuid, step), "
    "CONSTRAINT metrics_run_uuid_fkey FOREIGN KEY (run_uuid) REFERENCES runs(run_uuid) "
    "ON UPDATE CASCADE)",
    "CREATE INDEX index_metrics_run_uuid ON metrics (run_uuid)",
    "INSERT INTO runs SELECT md5(r::text), 'run-' || r FROM generate_series(1, 20) r",
    "INSERT INTO metrics SELECT 'loss', s * 0.5, md5(r::text), s "
    "FROM generate_series(1, 20) r, generate_series(0, 49) s",
)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> LocalPostgres:
    """A small store in `muh_store` of test_migration_parts' PostgreSQL: runs, and metrics with
    a key, an index and a foreign key."""
    pg: LocalPostgres = request.getfixturevalue("postgres")
    pg.create_database("muh_store")
    with pg.server.connect("muh_store") as conn:
        for statement in SCHEMA:
            conn.execute(statement)  # type: ignore[arg-type]
    return pg


def test_a_large_table_gets_its_indexes_and_constraints_back(store: LocalPostgres) -> None:
    server = store.server
    before = schema(server, "muh_store")
    with server.connect("muh_store") as conn, conn.transaction():
        assert rebuild_plan(conn, "runs") is None  # a foreign key points at it: it stays
        plan = rebuild_plan(conn, "metrics")
        assert plan is not None
        assert {name for name, _, _ in plan.constraints} == {"metric_pk",
                                                               "metrics_run_uuid_fkey"}
        assert [name for name, _ in plan.indexes] == ["index_metrics_run_uuid"]
        take_off(conn, plan)
        conn.execute("INSERT INTO metrics SELECT 'acc', 1, md5(r::text), 0 "
                     "FROM generate_series(1, 20) r")
        put_back(conn, plan)
    assert schema(server, "muh_store") == before
    with server.connect("muh_store") as conn, pytest.raises(Exception, match="foreign key"):
        conn.execute("INSERT INTO metrics VALUES ('x', 1, 'no such run', 0)")


def test_rows_are_compared_by_digest_and_row_by_row_only_where_they_differ(
        store: LocalPostgres) -> None:
    server = store.server
    before = table_digests(server, "muh_store")
    assert before["metrics"].rows == 1000 and before["runs"].rows == 20
    store.create_database("muh_store_snap", template="muh_store")
    with server.connect("muh_store") as conn:
        conn.execute("ALTER TABLE runs ADD COLUMN workspace text DEFAULT 'default'")  # allowed
        conn.execute("INSERT INTO runs VALUES ('writer', 'writer')")  # the writer's own
        conn.execute("INSERT INTO metrics VALUES ('m', 1, 'writer', 0)")
    footprint = {"runs": ("run_uuid", ["writer"]), "metrics": ("run_uuid", ["writer"])}
    assert changed_tables(before, table_digests(server, "muh_store", before, footprint)) == []
    with server.connect("muh_store") as conn:
        conn.execute("UPDATE metrics SET value = 99 WHERE step = 7 AND run_uuid = md5('3')")
        conn.execute("UPDATE runs SET run_uuid = 'renamed' WHERE run_uuid = md5('20')")
    after = table_digests(server, "muh_store", before, footprint)
    assert changed_tables(before, after) == ["metrics", "runs"]
    rows, _ = compare_changed(server, "muh_store_snap", "muh_store", before, ["metrics", "runs"])
    damaged = {r.table: r for r in rows}
    assert len(damaged["metrics"].changed) == 1 and damaged["metrics"].missing[-1] == "… 45 more"
    assert len(damaged["runs"].missing) == 1 and not damaged["runs"].changed  # its old key gone
