"""Row comparison at any size: one digest per table computed in the database, rows only where
the digests differ.

A table's digest is its row count and the sum of a 64-bit hash of each row's old columns
(order-independent; a lost or changed row changes it): one sequential scan in PostgreSQL,
nothing held in the harness, so 10^7 metric rows cost seconds, not gigabytes. A table whose
digest differs after the upgrade is compared row by row (`database.fingerprint` of that table
in the snapshot and in the upgraded database), which names the rows and columns. Rows a
writer made during the upgrade (`exclude`: table → (column, values)) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from harness.migration.database import (
    SKIPPED_TABLES,
    RowComparison,
    TableFingerprint,
    _primary_key,
    compare_rows,
    fingerprint,
    schema,
)
from harness.services.pg_admin import PgServer

Exclude = Mapping[str, tuple[str, list[Any]]]


@dataclass(frozen=True)
class TableDigest:
    columns: tuple[str, ...]  # the columns hashed (the old ones)
    key: tuple[str, ...]  # the primary key before the upgrade
    rows: int
    digest: str


def _digest_query(table: str, columns: list[str], exclude: Exclude) -> tuple[sql.Composed, Any]:
    row = sql.SQL("ROW({})").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
    query = sql.SQL("SELECT count(*), coalesce(sum(('x' || left(md5(({row})::text), 16))"
                    "::bit(64)::bigint::numeric), 0)::text FROM {table}").format(
        row=row, table=sql.Identifier(table))
    left_out = exclude.get(table)
    if left_out is None or left_out[0] not in columns:
        return query, None
    column, values = left_out
    return query + sql.SQL(" WHERE NOT coalesce({}::text = ANY(%s), false)").format(
        sql.Identifier(column)), ([str(v) for v in values],)


def table_digests(server: PgServer, database: str,
                  before: Mapping[str, TableDigest] | None = None,
                  exclude: Exclude | None = None) -> dict[str, TableDigest]:
    """Each table's digest; with `before`, over the columns and key it had then (new columns
    are allowed, and a table the upgrade added is not compared)."""
    tables = schema(server, database).columns
    found: dict[str, TableDigest] = {}
    with server.connect(database) as conn:
        for table in sorted(before or tables):
            if table in SKIPPED_TABLES or table not in tables:
                continue
            wanted = list(before[table].columns) if before else list(tables[table])
            present = [c for c in wanted if c in tables[table]]
            key = tuple(before[table].key) if before else tuple(_primary_key(conn, table))
            if not present:
                found[table] = TableDigest(tuple(wanted), key, 0, "")
                continue
            query, params = _digest_query(table, present, exclude or {})
            row = conn.execute(query, params).fetchone()
            assert row is not None
            found[table] = TableDigest(tuple(wanted), key, int(str(row[0])), str(row[1]))
    return found


def changed_tables(before: Mapping[str, TableDigest],
                   after: Mapping[str, TableDigest]) -> list[str]:
    """Tables whose rows are not all there, unchanged in their old columns."""
    return sorted(table for table, digest in before.items()
                  if table not in after or after[table].rows != digest.rows
                  or after[table].digest != digest.digest
                  or after[table].columns != digest.columns)


def compare_changed(server: PgServer, snapshot: str, database: str,
                    before: Mapping[str, TableDigest], tables: list[str]
                    ) -> tuple[list[RowComparison], dict[str, TableFingerprint]]:
    """Row by row, only `tables`: the snapshot (the database before the upgrade) against the
    upgraded database. Returns the comparisons and the snapshot's fingerprints (for the
    changed fields)."""
    if not tables:
        return [], {}
    columns = {t: list(before[t].columns) for t in tables}
    keys = {t: list(before[t].key) for t in tables}
    old = fingerprint(server, snapshot, columns, keys, tables=tables)
    new = fingerprint(server, database, columns, keys, tables=tables)
    return compare_rows(old, new), old
