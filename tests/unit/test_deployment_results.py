"""What a run says about the deployment: the drift between the two sides, the verdict's reasons,
results.json (absent when there is nothing to say, valid against the schema, read back), the
report's section, and the basic-auth judgement under a team's default_permission."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.config import build_config
from harness.deploy.auth_config import permission_changes
from harness.deploy.catalog import responsible
from harness.deploy.drift import described, drift
from harness.deploy.result import DeploymentResult, HealthFinding, Reach, Rerun
from harness.reports.html import render_html
from harness.reports.markdown import render_markdown
from harness.results import model
from harness.results.model import RunResults, RunStatus, SideInfo
from harness.results.phase import Upgrade
from harness.scenarios.test_basic_auth import expected, verify_auth_migration, verify_basic_auth
from harness.verdict import conclude


def _sides(tmp_path: Path, old: str, new: str, **given: str) -> tuple[object, object]:
    (tmp_path / "from.toml").write_text(old)
    (tmp_path / "to.toml").write_text(new)
    config = build_config(from_mlflow=given.get("from", "3.4.0"),
                          to_mlflow=given.get("to", "3.17.2"),
                          from_deployment=str(tmp_path / "from.toml"),
                          to_deployment=str(tmp_path / "to.toml"))
    return config.from_side, config.to_side  # type: ignore[attr-defined]


def test_drift_flags_what_the_versions_do_not_explain(tmp_path: Path) -> None:
    old, new = _sides(tmp_path, """\
        public-url = "https://mlflow-dev.example.com"
        server-options = "--workers 2 --static-prefix /mlflow"
        environment = { MLFLOW_BASIC_AUTH_FAIL_CLOSED = "false" }
        """.replace("        ", ""), """\
        public-url = "https://mlflow.example.com"
        server-options = "--workers 4 --allowed-hosts mlflow.example.com --static-prefix /mlflow"
        environment = { MLFLOW_BASIC_AUTH_FAIL_CLOSED = "true" }
        """.replace("        ", ""))
    rows = {row.setting: row for row in drift(described(old), described(new),  # type: ignore[arg-type]
                                              ("3.4.0", "3.17.2"))}
    assert not rows["MLflow"].flagged and rows["MLflow"].note == "the upgrade"
    assert rows["workers"].flagged and rows["workers"].new == "4 (argument)"
    assert rows["environment MLFLOW_BASIC_AUTH_FAIL_CLOSED"].flagged
    assert rows["public URL"].flagged
    assert not rows["option --allowed-hosts"].flagged  # 3.4.0 has no such option
    assert rows["option --allowed-hosts"].note == "3.4.0 has no --allowed-hosts (from 3.5.0)"
    assert not rows["option --static-prefix"].flagged and rows["option --static-prefix"].old == \
        "/mlflow"
    # 2.9.2's gunicorn and 3.4.0's uvicorn are each version's default; one repository's tags
    old, new = _sides(tmp_path, "", "", **{"from": "2.9.2", "to": "3.4.0"})
    program = {row.setting: row for row in drift(described(old), described(new),  # type: ignore[arg-type]
                                                 ("2.9.2", "3.4.0"))}["server program"]
    assert (program.old, program.new, program.flagged) == ("gunicorn", "uvicorn", False)


def _results(deployment: DeploymentResult | None) -> RunResults:
    results = RunResults(run_id="abcdef0123", started_at="2026-12-02T00:00:00+00:00",
                         harness_version="0.1.0",
                         sides=[SideInfo("from", "3.4.0", "3.4.0"),
                                SideInfo("to", "3.17.2", "3.17.2")],
                         status=RunStatus.PASSED, deployment=deployment)
    conclude(results)
    return results


REFUSED = Reach("to", "3.17.2", "https://mlflow.example.com", "403 Invalid Host header - "
                "possible DNS rebinding attack detected", "200", True,
                "`--allowed-hosts mlflow.example.com` in its server options",
                "https://github.com/mlflow/mlflow/pull/17910")
FINDING = HealthFinding("to", "mlflow server to-3.17.2", "3.17.2",
                        restarts=["Child process [9] died"], cause="uvicorn's supervisor "
                        "replaced workers", remedy=["--workers", "1"],
                        reruns=[Rerun("test_tracking.py::x[to]", "to", "failed: Max retries",
                                      "passed")])


def test_no_deployment_no_field_and_nothing_rendered(tmp_path: Path) -> None:
    results = _results(None)
    assert "deployment" not in json.loads(results.to_json())
    assert "Deployment" not in render_markdown(results)
    assert "Deployment</h2>" not in render_html(results)


def test_the_verdict_the_file_and_the_report(tmp_path: Path) -> None:
    old, new = _sides(tmp_path, "", 'server-options = "--workers 1"\n')
    deployment = DeploymentResult(
        sides=[described(old), described(new)], reach=[REFUSED], health=[FINDING],  # type: ignore[arg-type]
        drift=drift(described(old), described(new), ("3.4.0", "3.17.2")))  # type: ignore[arg-type]
    results = _results(deployment)
    assert results.verdict is not None and results.verdict.level.value == "not_safe"
    reasons = results.verdict.reasons
    assert reasons[0].startswith("the new server (3.17.2) refuses requests for its public URL "
                                 "https://mlflow.example.com and answers them by 127.0.0.1: 403")
    assert "fix: `--allowed-hosts mlflow.example.com`" in reasons[0]
    assert any(r.startswith("mlflow server to-3.17.2 (3.17.2) had 1 worker restart(s)")
               for r in reasons)
    assert any("differ in 1 setting(s) you may not intend: workers" in r for r in reasons)
    assert deployment.caveats(Upgrade()) and not DeploymentResult().blocking(Upgrade())
    model.write_results(results, tmp_path / "results.json")
    document = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(document, json.loads(model.SCHEMA_PATH.read_text()))
    assert model.load_results(tmp_path / "results.json").deployment == deployment
    markdown = render_markdown(results)
    section = markdown[markdown.index("## Deployment"):]
    assert "| new (3.17.2) | https://mlflow.example.com | 403 Invalid Host header" in section
    assert "| ⚠ workers | 4 (mlflow default) | 1 (argument) |" in section
    assert "| test_tracking.py::x[to] | to | failed: Max retries | passed |" in section
    html = render_html(results)
    assert "<h2>Deployment</h2>" in html and "Server health: mlflow server to-3.17.2" in html


SEEDED = {  # basic_auth:seed_store's users as inventory_store reads them (3.4.0)
    "p-user0": {"is_admin": True, "experiments": [["100", "READ"]], "models": []},
    "p-user1": {"is_admin": False, "experiments": [["101", "EDIT"]],
                "models": [["p-model1", "EDIT"]]},
    "p-user3": {"is_admin": False, "experiments": [["103", "NO_PERMISSIONS"]],
                "models": [["p-model3", "NO_PERMISSIONS"]]},
}
# 3.17.2's auth migration (e5f6a7b8c9d0) does not carry explicit NO_PERMISSIONS grants over.
MIGRATED = {**SEEDED, "p-user3": {"is_admin": False, "experiments": [], "models": []}}
APPLIED = ["c3d4e5f6a7b8 Add RBAC tables", "e5f6a7b8c9d0 Migrate legacy per-resource "
           "permissions into role_permissions"]


def test_a_dropped_deny_widens_under_read_and_is_harmless_under_no_permissions() -> None:
    widened = permission_changes(SEEDED, MIGRATED, ("READ", "READ"))
    assert [(c["user"], c["resource"], c["before"], c["after"], c["change"]) for c in widened] \
        == [("p-user3", "experiment 103", "NO_PERMISSIONS", "READ", "widened"),
            ("p-user3", "registered model p-model3", "NO_PERMISSIONS", "READ", "widened")]
    assert permission_changes(SEEDED, MIGRATED, ("NO_PERMISSIONS", "NO_PERMISSIONS")) == []
    revision, why = responsible(APPLIED, "NO_PERMISSIONS")
    assert revision == ("auth migration e5f6a7b8c9d0 (Migrate legacy per-resource permissions "
                        "into role_permissions)") and "skips explicit NO_PERMISSIONS" in why
    assert responsible(APPLIED[:1], "READ") == (
        "one of the auth migrations applied: c3d4e5f6a7b8 Add RBAC tables", "")
    result = {"upgrade_exit_code": 0, "revision_after": "h", "new_head": "h",
              "rows_intact": True, "damaged": [], "default_permission": "READ",
              "inventory": {f"u{i}": {"password_ok": True, "wrong_password_refused": True}
                            for i in range(4)},
              "permission_changes": [{**c, "revision": responsible(APPLIED, c["before"])[0]}
                                     for c in widened]}
    with pytest.raises(AssertionError) as failed:
        verify_auth_migration(result)
    assert ("p-user3 on experiment 103: NO_PERMISSIONS → READ (widened, default_permission "
            "READ; auth migration e5f6a7b8c9d0 (Migrate legacy") in str(failed.value)
    verify_auth_migration({**result, "permission_changes": [],
                           "default_permission": "NO_PERMISSIONS"})


@pytest.mark.parametrize(("permission", "reads", "tags"), [
    ("READ", "ok", "403 PERMISSION_DENIED"), ("NO_PERMISSIONS", "403 PERMISSION_DENIED",
                                              "403 PERMISSION_DENIED"), ("EDIT", "ok", "ok")])
def test_the_basic_auth_answers_follow_default_permission(permission: str, reads: str,
                                                          tags: str) -> None:
    answers = expected(permission)
    assert (answers["bob_reads_experiment"], answers["bob_tags_experiment_default"]) == (
        reads, tags)
    verify_basic_auth({**answers, "short_password_user": "ok"}, permission)
    if permission != "READ":
        with pytest.raises(AssertionError, match=f"under default_permission {permission}"):
            verify_basic_auth({**expected("READ"), "short_password_user": "ok"}, permission)
