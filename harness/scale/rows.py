"""The sampled entities of the store as its rows say a server must serve them (the other side
of `samples.read_rest`, in the same shape)."""

from __future__ import annotations

from typing import Any

from harness.scale.samples import Targets
from harness.services.pg_admin import PgServer

DELETED_STAGE = "Deleted_Internal"  # a soft-deleted model version: no longer served


def _number(value: Any, nan: bool) -> float | str:
    return "NaN" if nan else round(float(value), 9)


def _by_key(conn: Any, query: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """{owner: {key: value}} from rows (owner, key, value)."""
    found: dict[str, dict[str, Any]] = {owner: {} for owner in ids}
    for owner, key, value in conn.execute(query, (ids,)).fetchall():
        found.setdefault(str(owner), {})[str(key)] = value
    return found


def _runs(conn: Any, targets: Targets) -> dict[str, Any]:
    ids = list(targets.runs)
    params = _by_key(conn, "SELECT run_uuid, key, value FROM params WHERE run_uuid = ANY(%s)",
                     ids)
    tags = _by_key(conn, "SELECT run_uuid, key, value FROM tags WHERE run_uuid = ANY(%s)", ids)
    metrics: dict[str, dict[str, Any]] = {rid: {} for rid in ids}
    for rid, key, value, nan, step, stamp in conn.execute(
            "SELECT run_uuid, key, value, is_nan, step, timestamp FROM latest_metrics "
            "WHERE run_uuid = ANY(%s)", (ids,)).fetchall():
        metrics[str(rid)][str(key)] = [_number(value, bool(nan)), int(step), int(stamp)]
    runs: dict[str, Any] = {}
    for rid, experiment, status, stage, name, start, end in conn.execute(
            "SELECT run_uuid, experiment_id, status, lifecycle_stage, name, start_time, "
            "end_time FROM runs WHERE run_uuid = ANY(%s)", (ids,)).fetchall():
        runs[str(rid)] = {"experiment_id": str(experiment), "status": status,
                          "lifecycle_stage": stage, "name": name, "start_time": start,
                          "end_time": end, "params": params[str(rid)],
                          "tags": tags[str(rid)], "metrics": metrics[str(rid)]}
    return runs


def _registry(conn: Any, targets: Targets) -> tuple[dict[str, Any], dict[str, Any]]:
    names = list(targets.models)
    tags = _by_key(conn, "SELECT name, key, value FROM registered_model_tags "
                         "WHERE name = ANY(%s)", names)
    aliases = _by_key(conn, "SELECT name, alias, version::text FROM registered_model_aliases "
                            "WHERE name = ANY(%s)", names)
    models = {str(name): {"description": description, "tags": tags[str(name)],
                          "aliases": aliases[str(name)]}
              for name, description in conn.execute(
                  "SELECT name, description FROM registered_models WHERE name = ANY(%s)",
                  (names,)).fetchall()}
    versions: dict[str, Any] = {}
    for name, version in targets.versions:
        row = conn.execute("SELECT current_stage, run_id, source FROM model_versions "
                           "WHERE name = %s AND version = %s", (name, int(version))).fetchone()
        version_tags = dict(conn.execute(
            "SELECT key, value FROM model_version_tags WHERE name = %s AND version = %s",
            (name, int(version))).fetchall())
        versions[f"{name}/{version}"] = None if row is None or row[0] == DELETED_STAGE else {
            "stage": row[0], "run_id": row[1], "source": row[2], "tags": version_tags}
    return models, versions


def read_rows(server: PgServer, database: str, targets: Targets) -> dict[str, Any]:
    with server.connect(database) as conn:
        runs = _runs(conn, targets)
        ids = [int(e) for e in targets.experiments]
        tags = _by_key(conn, "SELECT experiment_id::text, key, value FROM experiment_tags "
                             "WHERE experiment_id::text = ANY(%s)", [str(e) for e in ids])
        experiments = {str(eid): {"name": name, "lifecycle_stage": stage,
                                  "tags": tags.get(str(eid), {})}
                       for eid, name, stage in conn.execute(
                           "SELECT experiment_id, name, lifecycle_stage FROM experiments "
                           "WHERE experiment_id = ANY(%s)", (ids,)).fetchall()}
        models, versions = _registry(conn, targets)
        run, key = targets.history
        points = conn.execute("SELECT count(*) FROM metrics WHERE run_uuid = %s AND key = %s",
                              (run, key)).fetchone()
    return {"runs": runs, "experiments": experiments, "models": models, "versions": versions,
            "history_points": int(str(points[0])) if points else 0}
