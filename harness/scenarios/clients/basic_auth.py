"""MLflow's own basic-auth app: users, permissions and its auth database. Runs in an MLflow env.

Credentials go through MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, set only for the
duration of each step, as a user's process would set them.
"""

import contextlib
import os

import requests
from mlflow.exceptions import MlflowException
from mlflow.server import get_app_client
from mlflow.tracking import MlflowClient

TIMEOUT = 30


@contextlib.contextmanager
def as_user(username, password):
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"] = username
    os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _outcome(action):
    """"ok", or the HTTP status and error code MLflow raised."""
    try:
        action()
    except MlflowException as error:
        return f"{error.get_http_status_code()} {error.error_code}"
    return "ok"


def _rest_status(tracking_uri, auth=None):
    response = requests.get(f"{tracking_uri}/api/2.0/mlflow/experiments/search",
                            params={"max_results": 1}, auth=auth, timeout=TIMEOUT)
    return response.status_code


def exercise(tracking_uri, admin_username, admin_password, prefix):
    """Users, experiment and model permissions, password change; every answer recorded."""
    auth = get_app_client("basic-auth", tracking_uri=tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    alice, bob = f"{prefix}-alice", f"{prefix}-bob"
    passwords = {alice: "alice-password-1", bob: "bob-password-1"}
    seen = {}
    seen["no_credentials"] = _rest_status(tracking_uri)
    seen["wrong_password"] = _rest_status(tracking_uri, (admin_username, "not-the-password"))
    seen["admin"] = _rest_status(tracking_uri, (admin_username, admin_password))
    with as_user(admin_username, admin_password):
        # 3.x requires passwords longer than 12 characters; 2.9.2 takes any.
        seen["short_password_user"] = _outcome(
            lambda: auth.create_user(f"{prefix}-short", "short-pw1"))
        for user, password in passwords.items():
            auth.create_user(user, password)
    with as_user(alice, passwords[alice]):
        experiment_id = client.create_experiment(f"{prefix}-alice-experiment")
        model = client.create_registered_model(f"{prefix}-alice-model").name
        seen["non_admin_creates_user"] = _outcome(
            lambda: auth.create_user(f"{prefix}-x", "harness-password-x"))
    with as_user(bob, passwords[bob]):
        seen["bob_reads_experiment"] = _outcome(lambda: client.get_experiment(experiment_id))
        seen["bob_tags_experiment_default"] = _outcome(
            lambda: client.set_experiment_tag(experiment_id, "by", "bob"))
        seen["bob_deletes_model_default"] = _outcome(lambda: client.delete_registered_model(model))
    seen["permission_api"] = permission_api(auth)
    with as_user(alice, passwords[alice]):
        _grant(auth, bob, experiment_id, model)
    with as_user(bob, passwords[bob]):
        seen["bob_tags_experiment_with_edit"] = _outcome(
            lambda: client.set_experiment_tag(experiment_id, "by", "bob"))
        seen["bob_deletes_model_with_read"] = _outcome(
            lambda: client.delete_registered_model(model))
    with as_user(admin_username, admin_password):
        auth.update_user_password(bob, "bob-password-2")
        seen["bob_permissions"] = _permissions(auth, bob, experiment_id, model)
    seen["bob_old_password"] = _rest_status(tracking_uri, (bob, "bob-password-1"))
    seen["bob_new_password"] = _rest_status(tracking_uri, (bob, "bob-password-2"))
    return seen


def permission_api(auth):
    """How this version's AuthServiceClient grants a user access to one resource: "unified"
    (grant_user_permission / get_user_permission, with roles) or "per-resource"
    (create_experiment_permission, …, and User.experiment_permissions: up to the release that
    removed them, mlflow/mlflow#23337)."""
    return "unified" if hasattr(auth, "grant_user_permission") else "per-resource"


def no_access_permission():
    """The grant that takes a user's access to one resource away: NO_PERMISSIONS, or DENY
    where the version no longer grants NO_PERMISSIONS on a resource (its
    RESOURCE_GRANTABLE_PERMISSIONS leaves it out; an absent grant means no access there)."""
    from mlflow.server.auth import permissions

    grantable = getattr(permissions, "RESOURCE_GRANTABLE_PERMISSIONS", None)
    return "NO_PERMISSIONS" if grantable is None or "NO_PERMISSIONS" in grantable else "DENY"


def _grant(auth, username, experiment_id, model):
    if permission_api(auth) == "unified":
        auth.grant_user_permission(username, "experiment", experiment_id, "EDIT")
        auth.grant_user_permission(username, "registered_model", model, "READ")
    else:
        auth.create_experiment_permission(experiment_id, username, "EDIT")
        auth.create_registered_model_permission(model, username, "READ")


def _permissions(auth, username, experiment_id, model):
    """The user's grants, as [is-the-granted-resource, permission] pairs, and whether admin."""
    user = auth.get_user(username)
    if permission_api(auth) == "unified":
        experiment = auth.get_user_permission(username, "experiment", experiment_id)
        registered = auth.get_user_permission(username, "registered_model", model)
        experiments, models = [[True, experiment.permission]], [[True, registered.permission]]
    else:
        experiments = sorted([p.experiment_id == experiment_id, p.permission]
                             for p in user.experiment_permissions)
        models = sorted([p.name == model, p.permission] for p in user.registered_model_permissions)
    return {"experiments": experiments, "models": models, "is_admin": user.is_admin}


# ---- the auth database on its own, for the migration check --------------------------------

def _store(database_uri):
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(database_uri)
    return store


def seed_store(tracking_uri, database_uri, prefix):
    """Users and permissions written by this version straight into the auth database."""
    store = _store(database_uri)
    for index, permission in enumerate(("READ", "EDIT", "MANAGE", no_access_permission())):
        user = f"{prefix}-user{index}"
        store.create_user(user, f"harness-password-{index}", is_admin=index == 0)
        store.create_experiment_permission(str(100 + index), user, permission)
        store.create_registered_model_permission(f"{prefix}-model{index}", user, permission)
    return inventory_store(tracking_uri, database_uri, prefix)


def inventory_store(tracking_uri, database_uri, prefix):
    """What this version reads from the auth database, passwords checked."""
    store = _store(database_uri)
    users = {}
    for index in range(4):
        name = f"{prefix}-user{index}"
        user = store.get_user(name)
        users[name] = {
            "is_admin": user.is_admin,
            "password_ok": store.authenticate_user(name, f"harness-password-{index}"),
            "wrong_password_refused": not store.authenticate_user(name, "wrong"),
            # The store lists them on every version; User carries them only before RBAC.
            "experiments": sorted([p.experiment_id, p.permission]
                                  for p in store.list_experiment_permissions(name)),
            "models": sorted([p.name, p.permission]
                             for p in store.list_registered_model_permissions(name)),
        }
    return users
