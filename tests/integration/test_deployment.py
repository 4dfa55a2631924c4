"""Each side as the team deploys it, on real servers (3.4.0 → 3.17.2, local provider).

- A public host name: 3.17.2 refuses `Host: mlflow.example.com` (its allow-list, from 3.5) and
  answers 127.0.0.1; the run reports the refusal at the failing check with the option that
  fixes it, and the same run with that option in the new side's description passes it, every
  scenario request going through the public URL's stand-in.
- The team's basic_auth.ini: 3.17.2's auth migration drops explicit NO_PERMISSIONS grants; under
  `default_permission = READ` that widens a user's permission (a failed check naming user,
  resource, before/after and the revision), under NO_PERMISSIONS it changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import harness_processes, run_cli

pytestmark = [pytest.mark.integration]
OLD, NEW = "3.4.0", "3.17.2"
HOST = "mlflow.example.com"
INVALID_HOST = "Invalid Host header - possible DNS rebinding attack detected"


def _run(tmp_path: Path, name: str, scenarios: str, old: str, new: str) -> dict[str, Any]:
    (tmp_path / f"{name}-from.toml").write_text(old)
    (tmp_path / f"{name}-to.toml").write_text(new)
    out = tmp_path / name
    run = run_cli("run", "--from", OLD, "--to", NEW, "--provider", "local", "--no-bench",
                  "--no-matrix", "--quiet", "-k", scenarios, "--out", str(out),
                  "--from-deployment", str(tmp_path / f"{name}-from.toml"),
                  "--to-deployment", str(tmp_path / f"{name}-to.toml"), timeout=900)
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    assert harness_processes(results["run_id"]) == set()
    results["exit_code"] = run.code
    results["report"] = (out / "report.md").read_text()
    results["out"] = str(out)
    return results


def _checks(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["test"]: c for c in results["checks"]}


def _forwarded(results: dict[str, Any], label: str) -> list[dict[str, Any]]:
    log = Path(results["out"]) / "logs" / f"ingress-{label}-access.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines() if line]


PUBLIC = f'public-url = "https://{HOST}"\n'
SCENARIOS = "test_tracking or test_registration"


def test_a_public_host_name_refused_by_the_new_server_then_allowed(tmp_path: Path) -> None:
    refused = _run(tmp_path, "refused", SCENARIOS, PUBLIC, PUBLIC)
    checks = _checks(refused)
    old, new = checks["deployment::public_url[from]"], checks["deployment::public_url[to]"]
    assert old["status"] == "passed"  # 3.4.0 has no Host allow-list
    assert new["status"] == "failed", new
    assert f"refuses its public URL https://{HOST}: 403 {INVALID_HOST}" in new["message"]
    assert f"fix: `--allowed-hosts {HOST}` in its server options" in new["message"]
    reach = {r["role"]: r for r in refused["deployment"]["reach"]}
    assert reach["to"]["refused"] and reach["to"]["loopback"] == "200"
    # the refused side's scenarios ran by 127.0.0.1 and passed: the one failure is the refusal
    failed = [t for t, c in checks.items() if c["status"] in ("failed", "error")]
    assert failed == ["deployment::public_url[to]"], failed
    assert refused["exit_code"] == 1 and refused["verdict"]["level"] == "not_safe"
    assert refused["verdict"]["reasons"][0].startswith(
        f"the new server (3.17.2) refuses requests for its public URL https://{HOST}")
    assert f"`--allowed-hosts {HOST}`" in refused["report"]

    allowed = _run(tmp_path, "allowed", SCENARIOS, PUBLIC,
                   PUBLIC + f'server-options = "--allowed-hosts {HOST}"\n')
    checks = _checks(allowed)
    assert checks["deployment::public_url[to]"]["status"] == "passed"
    assert all(c["status"] in ("passed", "known_defect") for c in checks.values()), [
        (t, c["message"][:200]) for t, c in checks.items() if c["status"] != "passed"]
    assert allowed["exit_code"] == 0, allowed["verdict"]
    # every scenario request went through the stand-in ingress, as the team's clients' do
    for label in (f"from-{OLD}", f"to-{NEW}"):
        entries = _forwarded(allowed, label)
        assert any(e["path"].startswith("/api/2.0/mlflow/runs/") for e in entries), label
        assert all(e["decision"] == "forwarded" for e in entries)
        assert not [e for e in entries if e["status"] == 403], label
    # 3.4.0 has no --allowed-hosts: the drift says so and does not flag it
    drift = {row["setting"]: row for row in allowed["deployment"]["drift"]}
    assert not drift["option --allowed-hosts"]["flagged"]


AUTH = """\
[mlflow]
default_permission = {permission}
database_uri = sqlite:///team-auth.db
admin_username = team-admin
admin_password = team-admin-password-not-used
"""


def _auth(tmp_path: Path, permission: str) -> str:
    path = tmp_path / f"basic_auth_{permission}.ini"
    path.write_text(AUTH.format(permission=permission))
    return f'auth-config = "{path}"\n'


def test_the_auth_migration_under_the_teams_default_permission(tmp_path: Path) -> None:
    read = _run(tmp_path, "read", "test_basic_auth", _auth(tmp_path, "READ"),
                _auth(tmp_path, "READ"))
    checks = _checks(read)
    assert all(checks[f"test_basic_auth.py::test_basic_auth_app[{side}]"]["status"] == "passed"
               for side in ("from", "to"))
    migration = checks["test_basic_auth.py::test_auth_database_migrates"]
    assert migration["status"] == "failed"
    changes = migration["observations"]["permission_changes"]
    assert {(c["resource"].split()[0], c["before"], c["after"], c["change"])
            for c in changes} == {("experiment", "NO_PERMISSIONS", "READ", "widened"),
                                  ("registered", "NO_PERMISSIONS", "READ", "widened")}
    assert all(c["user"].endswith("-user3") for c in changes)
    assert "NO_PERMISSIONS → READ (widened, default_permission READ; auth migration " \
           "e5f6a7b8c9d0 (Migrate legacy per-resource permissions" in migration["message"]
    assert "skips explicit NO_PERMISSIONS" in changes[0]["why"]
    assert read["exit_code"] == 1
    sides = {s["role"]: s for s in read["deployment"]["sides"]}
    assert sides["to"]["auth"]["admin_username"] == "team-admin"
    assert "team-admin-password-not-used" not in json.dumps(read)

    denied = _run(tmp_path, "denied", "test_basic_auth", _auth(tmp_path, "NO_PERMISSIONS"),
                  _auth(tmp_path, "NO_PERMISSIONS"))
    checks = _checks(denied)
    assert all(c["status"] == "passed" for c in checks.values()), [
        (t, c["message"][:300]) for t, c in checks.items() if c["status"] != "passed"]
    app = checks["test_basic_auth.py::test_basic_auth_app[to]"]["observations"]
    assert app["bob_reads_experiment"] == "403 PERMISSION_DENIED"  # no grant, no access
    migration = checks["test_basic_auth.py::test_auth_database_migrates"]
    assert migration["observations"]["permission_changes"] == []
    assert migration["observations"]["inventory_changes"]  # the grant rows did change
