"""Row-level fingerprints and schema snapshots of a PostgreSQL database, and their diffs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from harness.services.pg_admin import PgServer

SKIPPED_TABLES = {"alembic_version"}
EXAMPLES = 5


@dataclass
class TableFingerprint:
    columns: list[str]
    key: list[str]
    rows: dict[str, str]  # primary key (as text) → md5 of the row's fingerprinted columns


@dataclass
class Schema:
    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # table → column → type
    indexes: dict[str, str] = field(default_factory=dict)  # name → definition
    constraints: dict[str, str] = field(default_factory=dict)  # table.name → definition


def alembic_revision(server: PgServer, database: str,
                     version_tables: tuple[str, ...] = ("alembic_version",)) -> str | None:
    """The revision in the first of `version_tables` that exists (None without any)."""
    with server.connect(database) as conn:
        for table in version_tables:
            exists = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
            if exists and exists[0] is not None:
                row = conn.execute(
                    sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(table))).fetchone()
                return str(row[0]) if row else None
    return None


def schema(server: PgServer, database: str) -> Schema:
    found = Schema()
    with server.connect(database) as conn:
        for table, column, dtype, length in conn.execute(
            "SELECT table_name, column_name, data_type, character_maximum_length "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall():
            kind = f"{dtype}({length})" if length else str(dtype)
            found.columns.setdefault(str(table), {})[str(column)] = kind
        for name, definition in conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall():
            found.indexes[str(name)] = str(definition)
        for table, name, definition in conn.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = 'public'"
        ).fetchall():
            found.constraints[f"{table}.{name}"] = str(definition)
    return found


def _primary_key(conn: Any, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attname",
        (f"public.{table}",),
    ).fetchall()
    return [str(r[0]) for r in rows]


def fingerprint(
    server: PgServer, database: str, columns: dict[str, list[str]] | None = None,
    keys: dict[str, list[str]] | None = None, tables: list[str] | None = None,
) -> dict[str, TableFingerprint]:
    """Per table (of `tables`, default all): an md5 per row over `columns` (default: all),
    keyed by primary key, or by `keys` (the key columns before an upgrade: 3.x migrations add
    `workspace` to the registry tables' primary keys, and an old row must still be found by
    its old key)."""
    snapshot = schema(server, database)
    result: dict[str, TableFingerprint] = {}
    with server.connect(database) as conn:
        for table, table_columns in sorted(snapshot.columns.items()):
            if table in SKIPPED_TABLES or (tables is not None and table not in tables):
                continue
            wanted = (columns or {}).get(table, list(table_columns))
            present = [c for c in wanted if c in table_columns]
            old_key = (keys or {}).get(table)
            key = old_key if old_key and all(c in table_columns for c in old_key) \
                else (_primary_key(conn, table) or present)
            if not present:
                result[table] = TableFingerprint(wanted, key, {})
                continue
            query = sql.SQL("SELECT ({key})::text, md5(({cols})::text) FROM {table}").format(
                key=sql.SQL("ROW({})").format(sql.SQL(", ").join(map(sql.Identifier, key))),
                cols=sql.SQL("ROW({})").format(sql.SQL(", ").join(map(sql.Identifier, present))),
                table=sql.Identifier(table),
            )
            rows = {str(k): str(v) for k, v in conn.execute(query).fetchall()}
            result[table] = TableFingerprint(wanted, key, rows)
    return result


@dataclass
class RowComparison:
    table: str
    rows_before: int
    missing: list[str]
    changed: list[str]
    missing_columns: list[str]

    @property
    def intact(self) -> bool:
        return not (self.missing or self.changed or self.missing_columns)


def compare_rows(
    before: dict[str, TableFingerprint], after: dict[str, TableFingerprint]
) -> list[RowComparison]:
    """Every row that existed before must exist after with the same old-column values."""
    comparisons = []
    for table, old in sorted(before.items()):
        new = after.get(table)
        if new is None:
            comparisons.append(RowComparison(table, len(old.rows), sorted(old.rows)[:EXAMPLES],
                                             [], old.columns))
            continue
        missing_keys = [k for k in old.rows if k not in new.rows]
        changed = [k for k, digest in old.rows.items() if k in new.rows and new.rows[k] != digest]
        missing_columns = [c for c in old.columns if c not in new.columns]
        comparisons.append(RowComparison(
            table, len(old.rows), sorted(missing_keys)[:EXAMPLES] + (
                [f"… {len(missing_keys) - EXAMPLES} more"] if len(missing_keys) > EXAMPLES else []),
            sorted(changed)[:EXAMPLES], missing_columns,
        ))
    return comparisons


@dataclass
class SchemaDiff:
    tables_added: list[str] = field(default_factory=list)
    tables_removed: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    types_changed: list[str] = field(default_factory=list)
    indexes_added: list[str] = field(default_factory=list)
    indexes_removed: list[str] = field(default_factory=list)
    # Removed indexes whose columns an added index on the same table holds: `old → new`
    # (e.g. 3.x's experiments_name_key (name) → uq_experiments_workspace_name (workspace, name)).
    indexes_replaced: list[str] = field(default_factory=list)
    constraints_added: list[str] = field(default_factory=list)
    constraints_removed: list[str] = field(default_factory=list)


def diff_schema(before: Schema, after: Schema) -> SchemaDiff:
    out = SchemaDiff()
    out.tables_added = sorted(set(after.columns) - set(before.columns))
    out.tables_removed = sorted(set(before.columns) - set(after.columns))
    for table in sorted(set(before.columns) & set(after.columns)):
        old, new = before.columns[table], after.columns[table]
        out.columns_added += [f"{table}.{c} {new[c]}" for c in new if c not in old]
        out.columns_removed += [f"{table}.{c}" for c in old if c not in new]
        out.types_changed += [f"{table}.{c}: {old[c]} → {new[c]}"
                              for c in old if c in new and old[c] != new[c]]
    out.indexes_added = sorted(set(after.indexes) - set(before.indexes))
    removed = sorted(set(before.indexes) - set(after.indexes))
    for name in removed:
        table, columns = _index_columns(before.indexes[name])
        holder = next((added for added in out.indexes_added
                       if _index_columns(after.indexes[added])[0] == table
                       and set(columns) <= set(_index_columns(after.indexes[added])[1])), None)
        if columns and holder is not None:
            out.indexes_replaced.append(f"{name} → {holder}")
        else:
            out.indexes_removed.append(name)
    out.constraints_added = sorted(set(after.constraints) - set(before.constraints))
    out.constraints_removed = sorted(set(before.constraints) - set(after.constraints))
    return out


_INDEX_DEF = re.compile(r" ON (?P<table>\S+) USING \w+ \((?P<columns>[^)]*)\)")


def _index_columns(definition: str) -> tuple[str, list[str]]:
    """(table, columns) of a `CREATE INDEX … ON table USING btree (a, b)` definition."""
    found = _INDEX_DEF.search(definition)
    if found is None:
        return "", []
    return found["table"], [c.strip().strip('"') for c in found["columns"].split(",")]


# MLflow's tables holding the migration seed's edge values: table → (column naming the
# entity, column whose longest value shows the long values are there, or None).
EDGE_TABLES = {
    "params": ("run_uuid", "value"),
    "tags": ("run_uuid", "value"),
    "metrics": ("run_uuid", None),
    "latest_metrics": ("run_uuid", None),
    "experiment_tags": ("experiment_id", "value"),
    "registered_models": ("name", "description"),
    "registered_model_tags": ("name", "value"),
    "model_versions": ("name", "description"),
    "model_version_tags": ("name", "value"),
}


def edge_rows(server: PgServer, database: str, entities: dict[str, list[str]]
              ) -> dict[str, dict[str, int]]:
    """Rows of the seeded edge entities per table (`entities`: entity column → ids), with the
    longest text in each: the evidence that the row fingerprints cover them."""
    found: dict[str, dict[str, int]] = {}
    with server.connect(database) as conn:
        for table, (column, measure) in EDGE_TABLES.items():
            ids = entities.get(column)
            exists = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
            if not ids or not exists or exists[0] is None:
                continue
            longest = sql.SQL("max(length({}))").format(sql.Identifier(measure)) \
                if measure else sql.SQL("0")
            query = sql.SQL("SELECT count(*), coalesce({longest}, 0) FROM {table} "
                            "WHERE {column}::text = ANY(%s)").format(
                longest=longest, table=sql.Identifier(table), column=sql.Identifier(column))
            row = conn.execute(query, (ids,)).fetchone()
            assert row is not None
            found[table] = {"rows": int(str(row[0])), "longest": int(str(row[1]))}
    return found


SHOWN = 80  # characters of a changed value shown in a report


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > SHOWN:
        return value[:SHOWN] + "…"
    return value


def _rows_as_json(server: PgServer, database: str, table: str, key: list[str],
                  keys: list[str]) -> dict[str, dict[str, Any]]:
    query = sql.SQL("SELECT ({key})::text, row_to_json(t)::text FROM {table} t "
                    "WHERE ({key})::text = ANY(%s)").format(
        key=sql.SQL("ROW({})").format(sql.SQL(", ").join(map(sql.Identifier, key))),
        table=sql.Identifier(table))
    with server.connect(database) as conn:
        return {str(k): json.loads(str(v)) for k, v in conn.execute(query, (keys,)).fetchall()}


def changed_fields(server: PgServer, before_db: str, after_db: str,
                   fingerprint_before: TableFingerprint, table: str,
                   comparison: RowComparison) -> list[dict[str, Any]]:
    """For the rows a comparison found missing or changed, which old column differs and its
    length before and after (read from the snapshot and the upgraded database)."""
    keys = [k for k in comparison.missing + comparison.changed if not k.startswith("…")]
    if not keys:
        return []
    key = fingerprint_before.key
    before = _rows_as_json(server, before_db, table, key, keys)
    after = _rows_as_json(server, after_db, table, key, keys)
    fields = []
    for row in keys:
        old, new = before.get(row, {}), after.get(row)
        for column in fingerprint_before.columns:
            was = old.get(column)
            now = "<absent>" if new is None else new.get(column, "<absent>")
            if was == now:
                continue
            fields.append({
                "table": table, "row": row, "column": column,
                "before": _short(was), "after": _short(now),
                "before_chars": len(was) if isinstance(was, str) else None,
                "after_chars": len(now) if isinstance(now, str) and new is not None else None,
            })
    return fields
