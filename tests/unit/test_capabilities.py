"""Capability checks of the client modules: each scenario adapts to what a version's API
offers (not to its version string). The modules run in MLflow environments; here their
`import mlflow` gets stubs, and fake API objects stand for a version with or without a
capability."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from tests.client_modules import CLIENTS, load_client


def _load(name: str, monkeypatch: pytest.MonkeyPatch, **modules: types.ModuleType) -> Any:
    stubs = {"mlflow": types.ModuleType("mlflow"), **modules}
    for dotted in ("mlflow.exceptions", "mlflow.server", "mlflow.tracking"):
        stubs.setdefault(dotted, types.ModuleType(dotted))
    stubs["mlflow.exceptions"].MlflowException = type("MlflowException", (Exception,), {})  # type: ignore[attr-defined]
    stubs["mlflow.server"].get_app_client = lambda *a, **k: None  # type: ignore[attr-defined]
    stubs["mlflow.tracking"].MlflowClient = object  # type: ignore[attr-defined]
    for dotted, module in stubs.items():
        monkeypatch.setitem(sys.modules, dotted, module)
    return load_client(name)


class PerResourceAuth:
    """AuthServiceClient up to the RBAC release: one method per resource type."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def create_experiment_permission(self, experiment_id: str, user: str, perm: str) -> None:
        self.calls.append(("experiment", experiment_id, user, perm))

    def create_registered_model_permission(self, name: str, user: str, perm: str) -> None:
        self.calls.append(("registered_model", name, user, perm))

    def get_user(self, user: str) -> Any:
        return types.SimpleNamespace(
            is_admin=False,
            experiment_permissions=[types.SimpleNamespace(experiment_id="7", permission="EDIT")],
            registered_model_permissions=[types.SimpleNamespace(name="m", permission="READ")])


class UnifiedAuth:
    """AuthServiceClient with roles (mlflow/mlflow#23337): one grant for every resource type;
    User no longer lists permissions."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.granted: dict[tuple[str, str], str] = {}

    def grant_user_permission(self, user: str, kind: str, resource: str, perm: str) -> None:
        self.calls.append((kind, resource, user, perm))
        self.granted[(kind, resource)] = perm

    def get_user_permission(self, user: str, kind: str, resource: str) -> Any:
        return types.SimpleNamespace(allowed=True, permission=self.granted[(kind, resource)])

    def get_user(self, user: str) -> Any:
        return types.SimpleNamespace(is_admin=False)


@pytest.mark.parametrize("auth_class", [PerResourceAuth, UnifiedAuth])
def test_basic_auth_grants_with_the_api_the_version_offers(
    auth_class: type[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _load("basic_auth", monkeypatch)
    auth = auth_class()
    expected = "unified" if auth_class is UnifiedAuth else "per-resource"
    assert module.permission_api(auth) == expected
    module._grant(auth, "bob", "7", "m")
    assert auth.calls == [("experiment", "7", "bob", "EDIT"), ("registered_model", "m", "bob",
                                                                "READ")]
    # Both APIs give the same observation, so the scenario's expectation holds on both.
    assert module._permissions(auth, "bob", "7", "m") == {
        "experiments": [[True, "EDIT"]], "models": [[True, "READ"]], "is_admin": False}


def test_logged_models_capability_is_read_from_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("numpy", "pandas"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    without = _load("_common", monkeypatch)
    assert without.has_logged_models() is False
    with_models = types.ModuleType("mlflow")
    with_models.get_logged_model = lambda model_id: None  # type: ignore[attr-defined]
    assert _load("_common", monkeypatch, mlflow=with_models).has_logged_models() is True


@pytest.mark.parametrize(("grantable", "expected"), [
    (None, "NO_PERMISSIONS"),  # up to 3.4.0: no whitelist, every permission is grantable
    (frozenset({"READ", "USE", "EDIT", "MANAGE", "DENY"}), "DENY"),  # 3.17.2
])
def test_no_access_grant_is_one_the_version_accepts(
    grantable: frozenset[str] | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    permissions = types.ModuleType("mlflow.server.auth.permissions")
    if grantable is not None:
        permissions.RESOURCE_GRANTABLE_PERMISSIONS = grantable  # type: ignore[attr-defined]
    auth = types.ModuleType("mlflow.server.auth")
    auth.permissions = permissions  # type: ignore[attr-defined]
    module = _load("basic_auth", monkeypatch, **{"mlflow.server.auth": auth,
                                                 "mlflow.server.auth.permissions": permissions})
    assert module.no_access_permission() == expected


def test_the_models_uri_registration_outcome_reaches_the_diff_and_the_catalog() -> None:
    """Its key must not read as an id (`…_id` values are replaced by placeholders, which hid
    this difference in a first run), and the catalog must document the 3.17.2 refusal."""
    from harness.catalog.classify import explain
    from harness.results.normalize import diff

    key = "models_uri_source_without_model_id_outcome"
    assert key in (CLIENTS / "registration.py").read_text()
    changes = diff({key: "ok"}, {key: "400 INVALID_PARAMETER_VALUE"})
    assert changes == [(key, "ok", "400 INVALID_PARAMETER_VALUE")]
    documented = explain("registration", key, "ok", "400 INVALID_PARAMETER_VALUE",
                         "3.4.0", "3.17.2")
    assert documented is not None and documented.source.startswith("https://github.com/")
    assert explain("registration", key, "ok", "ok", "3.17.2", "3.17.2") is None
