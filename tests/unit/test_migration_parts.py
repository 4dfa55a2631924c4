"""Revision graph, row and schema comparison, and the snapshot guard (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import HarnessError, ProviderUnavailable
from harness.migration.database import (
    Schema,
    TableFingerprint,
    alembic_revision,
    changed_fields,
    compare_rows,
    diff_schema,
    edge_rows,
    fingerprint,
    schema,
)
from harness.migration.drill import UnsafeMigration, entity_changes, guard_new_version_start
from harness.migration.revisions import RevisionGraph
from harness.services.postgres_local import LocalPostgres, find_binaries

SCRIPT = '''"""{doc}

Revision ID: {rev}
"""
revision = "{rev}"
down_revision = {down}
'''


def _graph(tmp_path: Path) -> RevisionGraph:
    for rev, down, doc in (("aaa1", None, "create tables"), ("bbb2", "aaa1", "add tags"),
                           ("ccc3", "bbb2", "add traces")):
        (tmp_path / f"{rev}_x.py").write_text(
            SCRIPT.format(rev=rev, down=f'"{down}"' if down else "None", doc=doc))
    return RevisionGraph.from_folder(tmp_path)


def test_revision_graph_finds_head_and_path(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    assert graph.head == "ccc3"
    assert [r.id for r in graph.between("aaa1", "ccc3")] == ["bbb2", "ccc3"]
    assert [r.description for r in graph.between(None, "bbb2")] == ["create tables", "add tags"]
    assert graph.between("ccc3", "ccc3") == []
    with pytest.raises(HarnessError, match="not an ancestor"):
        graph.between("ccc3", "bbb2")


def test_compare_rows_reports_lost_changed_and_dropped_columns() -> None:
    before = {
        "metrics": TableFingerprint(["key", "value"], ["id"], {"(1)": "a", "(2)": "b", "(3)": "c"}),
        "params": TableFingerprint(["key", "value"], ["id"], {"(1)": "x"}),
    }
    after = {
        "metrics": TableFingerprint(["key", "value"], ["id"], {"(1)": "a", "(2)": "B", "(4)": "d"}),
        "params": TableFingerprint(["key"], ["id"], {"(1)": "x"}),
    }
    found = {c.table: c for c in compare_rows(before, after)}
    assert found["metrics"].missing == ["(3)"] and found["metrics"].changed == ["(2)"]
    assert found["params"].missing_columns == ["value"] and not found["params"].intact
    assert compare_rows(before, before)[0].intact


def test_schema_diff() -> None:
    old = Schema({"t": {"a": "text", "b": "integer"}}, {"ix_a": "CREATE INDEX"}, {"t.pk": "PK"})
    new = Schema({"t": {"a": "character varying(8000)", "c": "bigint"}, "u": {"x": "text"}},
                 {"ix_u": "CREATE INDEX"}, {"t.pk": "PK"})
    diff = diff_schema(old, new)
    assert diff.tables_added == ["u"] and diff.columns_added == ["t.c bigint"]
    assert diff.columns_removed == ["t.b"]
    assert diff.types_changed == ["t.a: text → character varying(8000)"]
    assert diff.indexes_removed == ["ix_a"] and diff.indexes_added == ["ix_u"]


def test_entity_changes_compare_raw_values() -> None:
    before = {"runs": {"a": {"run_id": "r1", "metrics": {"m": 1.0}}}}
    after = {"runs": {"a": {"run_id": "r2", "metrics": {"m": 1.0}}, "b": {}}}
    assert entity_changes(before, after) == [
        {"path": "runs.a.run_id", "before": "r1", "after": "r2",
         "before_chars": 2, "after_chars": 2},
        {"path": "runs.b", "before": "<absent>", "after": {}},
    ]


def test_entity_changes_name_a_shortened_text_with_its_lengths() -> None:
    long = "é" * 6000
    (change,) = entity_changes({"runs": {"a": {"params": {"p": long}}}},
                               {"runs": {"a": {"params": {"p": long[:-1]}}}})
    assert change["path"] == "runs.a.params.p"
    assert (change["before_chars"], change["after_chars"]) == (6000, 5999)
    assert len(change["before"]) == 81 and change["before"].endswith("…")
    changes = entity_changes({"tags": {"t": "x"}}, {"tags": {"u": "y"}})
    gone = next(c for c in changes if c["path"] == "tags.t")
    assert gone["after"] == "<absent>" and gone["after_chars"] is None


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[LocalPostgres]:
    try:
        find_binaries()
    except ProviderUnavailable as error:
        pytest.skip(str(error))
    pg = LocalPostgres(tmp_path)
    pg.start()
    yield pg
    pg.stop()


def test_fingerprint_and_guard_on_a_real_database(postgres: LocalPostgres) -> None:
    server = postgres.server
    postgres.create_database("muh_guard")
    with server.connect("muh_guard") as conn:
        conn.execute("CREATE TABLE metrics (id int primary key, key text, value float)")
        conn.execute("INSERT INTO metrics VALUES (1, 'loss', 0.5), (2, 'loss', 0.25)")
        conn.execute("CREATE INDEX ix_key ON metrics (key)")
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32))")
        conn.execute("INSERT INTO alembic_version VALUES ('old1')")
    assert alembic_revision(server, "muh_guard") == "old1"
    # The auth database's table from MLflow 3.6 wins over the older one left beside it.
    auth_tables = ("alembic_version_auth", "alembic_version")
    assert alembic_revision(server, "muh_guard", auth_tables) == "old1"
    with server.connect("muh_guard") as conn:
        conn.execute("CREATE TABLE alembic_version_auth (version_num varchar(32))")
        conn.execute("INSERT INTO alembic_version_auth VALUES ('auth2')")
    assert alembic_revision(server, "muh_guard", auth_tables) == "auth2"
    assert alembic_revision(server, "muh_guard", ("no_such_table",)) is None
    with server.connect("muh_guard") as conn:
        conn.execute("DROP TABLE alembic_version_auth")
    before = fingerprint(server, "muh_guard")
    assert set(before) == {"metrics"} and len(before["metrics"].rows) == 2
    assert "ix_key" in schema(server, "muh_guard").indexes

    with pytest.raises(UnsafeMigration, match="no snapshot"):
        guard_new_version_start(server, "muh_guard", "new9", snapshots=set())
    guard_new_version_start(server, "muh_guard", "new9", snapshots={"muh_guard"})
    guard_new_version_start(server, "muh_guard", "old1", snapshots=set())  # same head: safe

    with server.connect("muh_guard") as conn:
        conn.execute("UPDATE metrics SET value = 0.3 WHERE id = 2")
        conn.execute("ALTER TABLE metrics ADD COLUMN step bigint DEFAULT 0")  # new columns: fine
    after = fingerprint(server, "muh_guard", {"metrics": before["metrics"].columns})
    (comparison,) = compare_rows(before, after)
    assert comparison.changed == ["(2)"] and comparison.missing == []
    postgres.drop_database("muh_guard")


def test_changed_rows_are_named_by_column_with_lengths(postgres: LocalPostgres) -> None:
    """A shortened value, a re-encoded unicode value and a lost row, as a faulty upgrade would
    leave them: each named with its table, row, column and length before and after."""
    server = postgres.server
    postgres.create_database("muh_edges")
    long, odd = "é漢😀" * 2000, "naïve 日本"
    with server.connect("muh_edges") as conn:
        conn.execute("CREATE TABLE params (key varchar(250), value varchar(8000), "
                     "run_uuid varchar(32), PRIMARY KEY (key, run_uuid))")
        conn.execute("INSERT INTO params VALUES ('long', %s, 'r1'), ('odd', %s, 'r1'), "
                     "('gone', 'x', 'r1'), ('other', 'y', 'r2')", (long, odd))
    postgres.create_database("muh_edges_snap", template="muh_edges")
    before = fingerprint(server, "muh_edges_snap")
    assert edge_rows(server, "muh_edges", {"run_uuid": ["r1"]}) == {
        "params": {"rows": 3, "longest": 6000}}
    with server.connect("muh_edges") as conn:
        conn.execute("UPDATE params SET value = left(value, 5999) WHERE key = 'long'")
        conn.execute("UPDATE params SET value = convert_from(convert_to(value, 'UTF8'), "
                     "'LATIN1') WHERE key = 'odd'")
        conn.execute("DELETE FROM params WHERE key = 'gone'")
    after = fingerprint(server, "muh_edges", {"params": before["params"].columns})
    (comparison,) = compare_rows(before, after)
    fields = changed_fields(server, "muh_edges_snap", "muh_edges", before["params"], "params",
                            comparison)
    by_row = {(f["row"], f["column"]): f for f in fields}
    shortened = by_row[("(long,r1)", "value")]
    assert (shortened["before_chars"], shortened["after_chars"]) == (6000, 5999)
    assert shortened["before"].endswith("…")
    recoded = by_row[("(odd,r1)", "value")]
    assert recoded["before"] == odd and recoded["after"] != odd
    assert (recoded["before_chars"], recoded["after_chars"]) == (len(odd), 13)
    lost = by_row[("(gone,r1)", "value")]
    assert lost["before"] == "x" and lost["after"] == "<absent>" and lost["after_chars"] is None
    assert ("(other,r2)", "value") not in by_row
    for database in ("muh_edges", "muh_edges_snap"):
        postgres.drop_database(database)


def test_rows_keep_their_old_key_and_widened_indexes_are_replacements(
    postgres: LocalPostgres,
) -> None:
    """3.x migrations add `workspace` to the registry tables' primary keys and widen unique
    names to (workspace, name): no row and no index is lost by that."""
    server = postgres.server
    postgres.create_database("muh_ws")
    with server.connect("muh_ws") as conn:
        conn.execute("CREATE TABLE registered_models (name text primary key, description text)")
        conn.execute("INSERT INTO registered_models VALUES ('m1', 'a'), ('m2', 'b')")
        conn.execute("CREATE TABLE spans (id int primary key, experiment_id int, t bigint)")
        conn.execute("CREATE INDEX index_spans_experiment_id ON spans (experiment_id)")
        conn.execute("CREATE INDEX ix_dropped ON spans (t)")
    before, schema_before = fingerprint(server, "muh_ws"), schema(server, "muh_ws")
    with server.connect("muh_ws") as conn:
        conn.execute("ALTER TABLE registered_models ADD COLUMN workspace text DEFAULT 'default'")
        conn.execute("ALTER TABLE registered_models DROP CONSTRAINT registered_models_pkey")
        conn.execute("ALTER TABLE registered_models ADD PRIMARY KEY (workspace, name)")
        conn.execute("DROP INDEX index_spans_experiment_id")
        conn.execute("DROP INDEX ix_dropped")
        conn.execute("CREATE INDEX index_spans_experiment_id_t ON spans (experiment_id, t DESC)")
    columns = {t: f.columns for t, f in before.items()}
    keyed_anew = compare_rows(before, fingerprint(server, "muh_ws", columns))
    assert not all(c.intact for c in keyed_anew)  # the new key alone misses every old row
    keys = {t: f.key for t, f in before.items()}
    assert all(c.intact for c in compare_rows(before, fingerprint(server, "muh_ws", columns,
                                                                  keys)))
    diff = diff_schema(schema_before, schema(server, "muh_ws"))
    assert diff.indexes_replaced == ["index_spans_experiment_id → index_spans_experiment_id_t"]
    assert diff.indexes_removed == ["ix_dropped"]
    postgres.drop_database("muh_ws")
