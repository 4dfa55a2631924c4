"""The team's `basic_auth.ini`: the settings the basic-auth scenario and the auth migration are
judged under.

Read once, at the edge. Kept: `default_permission`, `admin_username`, the
`authorization_function`, and the other plain settings (caches, workspace access). Never kept:
`admin_password` (the harness bootstraps the admin with a password of its own, so yours is
never read into anything but redaction) and `database_uri` (the harness never connects to your
auth database: each side gets one of its own on the run's PostgreSQL).
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.deploy.errors import DescriptionError
from harness.redact import register_secret

SECTION = "mlflow"
# Most to least: what a user may do on a resource. DENY (3.x) is an explicit "nothing".
PERMISSIONS = ("NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE")
RANK = {name: index for index, name in enumerate(PERMISSIONS)} | {"DENY": 0}
DEFAULT_FUNCTION = "mlflow.server.auth:authenticate_request_basic_auth"
NOT_KEPT = {"admin_password": "the harness bootstraps the admin with a password of its own",
            "database_uri": "each side's auth database is the run's own",
            "read_database_uri": "each side's auth database is the run's own"}


@dataclass(frozen=True)
class AuthSettings:
    """What the basic-auth servers of a side run with (the harness's own when not given)."""

    path: str = ""  # the team's file ("" for the harness's settings)
    default_permission: str = "READ"
    admin_username: str = "harness-admin"
    authorization_function: str = DEFAULT_FUNCTION
    others: tuple[tuple[str, str], ...] = ()  # further plain settings, written as given

    def ini(self, database_uri: str, admin_password: str) -> str:
        """The file a basic-auth server of the run reads."""
        lines = [f"[{SECTION}]", f"default_permission = {self.default_permission}",
                 f"database_uri = {database_uri}", f"admin_username = {self.admin_username}",
                 f"admin_password = {admin_password}",
                 f"authorization_function = {self.authorization_function}"]
        lines += [f"{key} = {value}" for key, value in self.others]
        return "\n".join(lines) + "\n"

    def shown(self) -> dict[str, str]:
        """The settings as the report shows them (nothing secret)."""
        return {"file": self.path or "(the harness's)",
                "default_permission": self.default_permission,
                "admin_username": self.admin_username,
                "authorization_function": self.authorization_function,
                **dict(self.others)}


def read_auth_config(path: Path) -> AuthSettings:
    """Your basic_auth.ini; a missing file, a missing [mlflow] section or an unknown
    permission is one line (DescriptionError)."""
    if not path.is_file():
        raise DescriptionError(f"auth-config: {path}: no such file")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text())
    except (OSError, UnicodeDecodeError, configparser.Error) as error:
        first = str(error).strip().splitlines()[0]
        raise DescriptionError(f"auth-config: {path}: cannot read it ({first})") from None
    if not parser.has_section(SECTION):
        raise DescriptionError(f"auth-config: {path}: no [{SECTION}] section")
    table = dict(parser.items(SECTION))
    for key in NOT_KEPT:
        register_secret(table.get(key))
    permission = table.get("default_permission", "READ").strip().upper()
    if permission not in PERMISSIONS:
        raise DescriptionError(f"auth-config: {path}: default_permission = {permission}: "
                               f"expected one of {', '.join(PERMISSIONS)}")
    function = table.get("authorization_function", DEFAULT_FUNCTION).strip()
    if not function.startswith("mlflow."):
        raise DescriptionError(f"auth-config: {path}: authorization_function = {function}: the "
                               "scenario signs in with basic auth; only MLflow's own functions are "
                               "available in the run's environments")
    others = tuple((key, value.strip()) for key, value in table.items()
                   if key not in NOT_KEPT and key not in (
                       "default_permission", "admin_username", "authorization_function"))
    return AuthSettings(str(path), permission,
                        table.get("admin_username", "").strip() or AuthSettings.admin_username,
                        function, others)


def effective(grants: dict[str, str], resource: str, default: str) -> str:
    """A user's permission on `resource`: the explicit grant, else the default permission."""
    return grants.get(resource, default)


def widened(before: str, after: str) -> bool:
    return RANK.get(after, 0) > RANK.get(before, 0)


def permission_changes(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
                       defaults: tuple[str, str]) -> list[dict[str, str]]:
    """Each user's effective permission on each resource it had a grant on, before (under the
    old side's `default_permission`) and after the auth migration (under the new side's), where
    the two differ: `{"user", "resource", "before", "after", "change": "widened"|"narrowed"}`.
    Inventories are `basic_auth:inventory_store`'s (admins see everything and are skipped)."""
    changes = []
    for user, was in sorted(before.items()):
        now = after.get(user, {})
        if was.get("is_admin") or now.get("is_admin"):
            continue
        for kind, label in (("experiments", "experiment"), ("models", "registered model")):
            old = {str(name): str(grant) for name, grant in was.get(kind, [])}
            new = {str(name): str(grant) for name, grant in now.get(kind, [])}
            for resource in sorted(set(old) | set(new)):
                first = effective(old, resource, defaults[0])
                then = effective(new, resource, defaults[1])
                if RANK.get(first, 0) != RANK.get(then, 0):
                    changes.append({"user": user, "resource": f"{label} {resource}",
                                    "before": first, "after": then,
                                    "change": "widened" if widened(first, then) else "narrowed"})
    return changes
