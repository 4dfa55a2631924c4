"""Seeding in bulk into the old version's own schema (`fills.py`'s INSERT … SELECTs).

The database's schema is the one the old version created (its server made it at start-up);
the harness only adds rows. One transaction: the large leaf tables (no foreign key points at
them: metrics, params, tags, latest_metrics, …) lose their indexes and constraints while they
fill and get them back, by the same names and definitions, before it commits; rebuilding an
index once is many times faster than maintaining it row by row, and re-adding a foreign key
checks every row at once. A column the old version's schema requires that the fills do not
know is refused before anything is written (`--from-dump` seeds any schema). The schema
after the load is compared with the schema before it: the harness never changes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from harness.errors import HarnessError
from harness.migration.database import schema
from harness.scale.fills import Fill, fills
from harness.scale.profile import StoreSize
from harness.services.pg_admin import PgServer

# Tables this large keep their indexes and constraints off while they fill.
REBUILT = ("metrics", "params", "tags", "latest_metrics")
SESSION = ("SET LOCAL maintenance_work_mem = '256MB'", "SET LOCAL synchronous_commit = off",
           "SET LOCAL work_mem = '64MB'")


class BulkSeedError(HarnessError):
    """The old version's schema has something the bulk seed cannot fill."""


@dataclass
class Seeded:
    """What a bulk seed wrote: rows per table, and its time."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rebuild_seconds: float = 0.0  # of `seconds`: indexes and constraints put back
    base_experiment: int = 0

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    @property
    def rate(self) -> int:
        """Rows per second, the rebuild included."""
        return round(self.total / self.seconds) if self.seconds > 0 else 0

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "total": self.total, "seconds": round(self.seconds, 1),
                "rebuild_seconds": round(self.rebuild_seconds, 1),
                "rows_per_s": self.rate}


@dataclass(frozen=True)
class Rebuild:
    """A table's indexes and constraints, as the old version created them."""

    table: str
    constraints: list[tuple[str, str, str]]  # (name, kind p|u|f, definition)
    indexes: list[tuple[str, str]]  # (name, CREATE INDEX …) not backing a constraint


def columns_of(conn: Any, table: str) -> dict[str, tuple[bool, bool]]:
    """column → (nullable, has a default) of a table in the old schema."""
    rows = conn.execute(
        "SELECT column_name, is_nullable = 'YES', column_default IS NOT NULL "
        "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s",
        (table,)).fetchall()
    return {str(name): (bool(nullable), bool(default)) for name, nullable, default in rows}


def check_fill(fill: Fill, columns: dict[str, tuple[bool, bool]], version: str) -> Fill:
    """`fill` narrowed to the columns the table has; refused when the table is missing or
    needs a value the fill does not give."""
    if not columns:
        raise BulkSeedError(f"MLflow {version}'s schema has no table {fill.table!r}: "
                            "the bulk seed cannot fill it (use --from-dump)")
    needed = sorted(name for name, (nullable, default) in columns.items()
                    if not nullable and not default and name not in fill.columns)
    if needed:
        raise BulkSeedError(
            f"MLflow {version}'s {fill.table} requires {', '.join(needed)}, which the bulk "
            "seed does not fill (use --from-dump, or --scale small)")
    kept = {name: expr for name, expr in fill.columns.items() if name in columns}
    return Fill(fill.table, fill.source, kept)


def rebuild_plan(conn: Any, table: str) -> Rebuild | None:
    """The table's indexes and constraints to take off while it fills; None when another
    table's foreign key points at it (its key must stay)."""
    referenced = conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                              "AND confrelid = %s::regclass", (f"public.{table}",)).fetchone()
    if referenced and int(str(referenced[0])):
        return None
    constraints = [(str(n), str(k), str(d)) for n, k, d in conn.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY conname",
        (f"public.{table}",)).fetchall()]
    indexes = [(str(n), str(d)) for n, d in conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
        "ORDER BY i.relname", (f"public.{table}",)).fetchall()]
    return Rebuild(table, constraints, indexes)


def take_off(conn: Any, plan: Rebuild) -> None:
    table = sql.Identifier(plan.table)
    for kind in ("f", "p", "u"):  # foreign keys first: they may rest on the table's own key
        for name, found, _ in plan.constraints:
            if found == kind:
                conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    table, sql.Identifier(name)))
    for name, _ in plan.indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))


def put_back(conn: Any, plan: Rebuild) -> None:
    """The same names and definitions: keys first, then indexes, then foreign keys (which
    check every row against the table they point at)."""
    table = sql.Identifier(plan.table)
    for kind in ("p", "u"):
        for name, found, definition in plan.constraints:
            if found == kind:
                conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                    table, sql.Identifier(name)) + sql.SQL(definition))
    for _, definition in plan.indexes:
        conn.execute(sql.SQL(definition))
    for name, found, definition in plan.constraints:
        if found == "f":
            conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                table, sql.Identifier(name)) + sql.SQL(definition))


def insert(conn: Any, fill: Fill) -> int:
    statement = sql.SQL("INSERT INTO {table} ({columns}) SELECT {values} ").format(
        table=sql.Identifier(fill.table),
        columns=sql.SQL(", ").join(map(sql.Identifier, fill.columns)),
        values=sql.SQL(", ").join(sql.SQL(expr) for expr in fill.columns.values()),
    ) + sql.SQL(fill.source)
    return int(conn.execute(statement).rowcount)


def seed(server: PgServer, database: str, size: StoreSize, version: str) -> Seeded:
    """The store of `size` in `database`, whose schema MLflow `version` created; its schema is
    unchanged afterwards (checked)."""
    before = schema(server, database)
    began = time.monotonic()
    result = Seeded()
    with server.connect(database) as conn, conn.transaction():
        for statement in SESSION:
            conn.execute(statement)
        found = conn.execute("SELECT coalesce(max(experiment_id), 0) FROM experiments")
        result.base_experiment = int(str(found.fetchone()[0]))  # type: ignore[index]
        planned = fills(size, result.base_experiment)
        columns = {fill.table: columns_of(conn, fill.table) for fill in planned}
        planned = [check_fill(fill, columns[fill.table], version) for fill in planned]
        plans = [plan for table in REBUILT if table in columns
                 for plan in [rebuild_plan(conn, table)] if plan is not None]
        for plan in plans:
            take_off(conn, plan)
        for fill in planned:
            result.rows[fill.table] = result.rows.get(fill.table, 0) + insert(conn, fill)
        rebuilt = time.monotonic()
        for plan in plans:
            put_back(conn, plan)
        result.rebuild_seconds = time.monotonic() - rebuilt
        conn.execute("SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
                     "%s)", (result.base_experiment + size.experiments,))
    with server.connect(database) as conn:
        conn.execute("ANALYZE")
    result.seconds = time.monotonic() - began
    if schema(server, database) != before:
        raise BulkSeedError("the bulk seed changed the old version's schema (a bug: its "
                            "indexes and constraints must come back as they were)")
    return result
