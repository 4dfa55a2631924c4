"""MLflow's own basic-auth app on each version, and its auth database across the upgrade.

Each side runs `mlflow server --app-name basic-auth` over its tracking database and an auth
database of its own; the side's client creates users, grants and checks permissions. The auth
database is then migrated on its own: seeded by the old version, upgraded with the new
version's `python -m mlflow.server.auth db upgrade`, and read back by the new version.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from harness.auth.basic_auth import BasicAuthFleet
from harness.deploy.auth_config import RANK, AuthSettings, permission_changes
from harness.deploy.catalog import responsible
from harness.migration.database import alembic_revision, compare_rows, fingerprint
from harness.migration.revisions import AUTH, RevisionGraph
from harness.plugin import Client
from harness.runtime.processes import run_to_completion
from harness.services.mlflow_command import SECRET, SECRET_ENV, MlflowCommand
from harness.session import RunSession

Observe = Callable[[dict[str, Any]], None]
LANE_SECONDS = 20  # its typical seconds on one side: how a client's lanes share the modules
AUTH_UPGRADE_TIMEOUT_S = 180.0
# The auth database's alembic version table: `alembic_version_auth` from MLflow 3.6 (which
# stamps an older auth database with its initial revision before upgrading it; mlflow/server/
# auth/db/utils.py), `alembic_version` before. Whichever the database has is its revision.
AUTH_VERSION_TABLES = ("alembic_version_auth", "alembic_version")

EXPECTED = {
    "no_credentials": 401,
    "wrong_password": 401,
    "admin": 200,
    "non_admin_creates_user": "403 PERMISSION_DENIED",
    "bob_tags_experiment_with_edit": "ok",
    "bob_deletes_model_with_read": "403 PERMISSION_DENIED",
    "bob_permissions": {"experiments": [[True, "EDIT"]], "models": [[True, "READ"]],
                        "is_admin": False},
    "bob_old_password": 401,
    "bob_new_password": 200,
}
DENIED = "403 PERMISSION_DENIED"


def expected(default_permission: str) -> dict[str, Any]:
    """The answers under a `default_permission`: what bob may do on alice's experiment and
    model before anyone grants him anything."""
    rank = RANK[default_permission]
    return {**EXPECTED,
            "bob_reads_experiment": "ok" if rank >= RANK["READ"] else DENIED,
            "bob_tags_experiment_default": "ok" if rank >= RANK["EDIT"] else DENIED,
            "bob_deletes_model_default": "ok" if rank >= RANK["MANAGE"] else DENIED}


def verify_basic_auth(result: dict[str, Any], default_permission: str = "READ") -> None:
    assert result["short_password_user"] in ("ok", "400 INVALID_PARAMETER_VALUE")
    wrong = {k: (result.get(k), v) for k, v in expected(default_permission).items()
             if result.get(k) != v}
    assert not wrong, (f"basic-auth answers differ from the expected under default_permission "
                       f"{default_permission} (got, want): {wrong}")


def test_basic_auth_app(
    side: str, basic_auth: BasicAuthFleet, client_via: Callable[[str], Client],
    observe: Observe, run_prefix: str,
) -> None:
    settings = basic_auth.settings(side)
    result = client_via(basic_auth.tracking_uri(side)).call(
        "basic_auth:exercise", admin_username=settings.admin_username,
        admin_password=basic_auth.password, prefix=f"{run_prefix}-{side}",
    )
    observe(result)
    verify_basic_auth(result, settings.default_permission)


def verify_auth_migration(result: dict[str, Any]) -> None:
    assert result["upgrade_exit_code"] == 0, "the auth database upgrade failed"
    head = result.get("new_head", result["revision_after"])  # older results lack the head
    assert result["revision_after"] == head, (
        f"the auth database stopped at {result['revision_after']}, not at the new version's "
        f"head {head}")
    assert result["rows_intact"], f"auth rows lost or changed: {result['damaged']}"
    changes = result.get("permission_changes")
    if changes is None:  # results of before the settings were known: every grant must stay
        assert result["new_reads_what_old_wrote"], (
            "the new version reads other users/permissions (before → after): "
            f"{result.get('inventory_changes', {})}")
    assert not changes, "; ".join(
        f"{c['user']} on {c['resource']}: {c['before']} → {c['after']} ({c['change']}, "
        f"default_permission {result['default_permission']}; {c['revision']})"
        for c in changes or [])
    users = result["inventory"]
    assert len(users) == 4 and all(u["password_ok"] and u["wrong_password_refused"]
                                   for u in users.values())


def test_auth_database_migrates(
    harness_session: RunSession, client_for: Callable[[str, str], Client], observe: Observe,
    run_prefix: str,
) -> None:
    postgres = harness_session.postgres
    assert postgres is not None
    database = f"muh_{harness_session.config.run_id}_authmig"
    uri = postgres.create_database(database)
    try:
        prefix = f"{run_prefix}-authmig"
        before_inventory = client_for("from", "from").call(
            "basic_auth:seed_store", database_uri=uri, prefix=prefix)
        before = fingerprint(postgres.server, database)
        revision_before = alembic_revision(postgres.server, database, AUTH_VERSION_TABLES)
        new = harness_session.sides["to"]
        # The DSN (with the password) in the environment, not in the arguments.
        code = run_to_completion(
            "auth db upgrade", MlflowCommand(new.env.bin).module_argv(
                "mlflow.server.auth", ["db", "upgrade", "--url", SECRET]),
            harness_session.log_dir / "auth-db-upgrade.log", AUTH_UPGRADE_TIMEOUT_S,
            env={**os.environ, SECRET_ENV: uri})
        # Old rows, by their old key, over their old columns (3.17.2 adds `workspace`).
        after = fingerprint(postgres.server, database,
                            {table: f.columns for table, f in before.items()},
                            keys={table: f.key for table, f in before.items()})
        damaged = [c.table for c in compare_rows(before, after) if not c.intact]
        after_inventory = client_for("to", "to").call(
            "basic_auth:inventory_store", database_uri=uri, prefix=prefix)
        revision_after = alembic_revision(postgres.server, database, AUTH_VERSION_TABLES)
        graph = RevisionGraph.from_env(new.env.path, AUTH)
        result = {
            "revision_before": revision_before,
            "revision_after": revision_after,
            "new_head": graph.head,
            # Read from the new version's auth migration scripts (none on a same-version run).
            "revisions": [f"{r.id} {r.description}".strip() for r in
                          graph.between(revision_before, revision_after)]
            if revision_after else [],
            "upgrade_exit_code": code,
            "rows_checked": sum(len(t.rows) for t in before.values()),
            "rows_intact": not damaged,
            "damaged": damaged,
            "inventory": after_inventory,
            "new_reads_what_old_wrote": after_inventory == before_inventory,
            # 3.17.2's RBAC migration drops explicit NO_PERMISSIONS grants (e5f6a7b8c9d0):
            # such a user falls back to default_permission.
            "inventory_changes": {
                user: {field: [was.get(field), after_inventory.get(user, {}).get(field)]
                       for field in was if was.get(field) != after_inventory.get(user, {})
                       .get(field)}
                for user, was in before_inventory.items()
                if was != after_inventory.get(user)},
        }
        # What each user may do, under each side's default_permission (the team's, given).
        result.update(_effective_changes(harness_session, before_inventory, after_inventory,
                                         result["revisions"]))
    finally:
        postgres.drop_database(database)
    observe(result)
    verify_auth_migration(result)


def _effective_changes(session: RunSession, before: dict[str, Any], after: dict[str, Any],
                       revisions: list[str]) -> dict[str, Any]:
    defaults = tuple((session.sides[role].config.deployment.auth or AuthSettings())
                     .default_permission for role in ("from", "to"))
    changes = permission_changes(before, after, (defaults[0], defaults[1]))
    for change in changes:  # the migration that did not carry the grant over, if known
        change["revision"], change["why"] = responsible(revisions, change["before"])
    return {"default_permission": " → ".join(dict.fromkeys(defaults)),
            "permission_changes": changes}
