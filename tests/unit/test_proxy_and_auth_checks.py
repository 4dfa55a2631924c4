"""Route coverage, findings, and the basic-auth checks, on known and recorded answers."""

from __future__ import annotations

import copy
import http.server
import threading
import time
from typing import Any

import pytest

from harness.catalog.classify import FINDING, UNEXPECTED, finding
from harness.proxy.coverage import (
    FORWARDED,
    NO_ANSWER,
    NOT_FORWARDED,
    Answer,
    classify,
    concrete_path,
    coverage,
    probe_method,
)
from harness.results.model import CheckResult, Status
from harness.scenarios.test_basic_auth import verify_auth_migration, verify_basic_auth
from harness.scenarios_runner import cross_version_diff
from tests.unit.test_scenario_checks import recorded


@pytest.mark.parametrize(("rule", "path"), [
    ("/api/2.0/mlflow/runs/get", "/api/2.0/mlflow/runs/get"),
    ("/api/2.0/mlflow/logged-models/<model_id>", "/api/2.0/mlflow/logged-models/harness-probe"),
    ("/api/2.0/mlflow-artifacts/artifacts/<path:artifact_path>",
     "/api/2.0/mlflow-artifacts/artifacts/harness-probe"),
    ("/x/<int:n>/y", "/x/0/y"),
    ("/v1/{kind}/traces", "/v1/harness-probe/traces"),
])
def test_rules_become_concrete_paths(rule: str, path: str) -> None:
    assert concrete_path(rule) == path


def test_probes_prefer_get_and_never_guess_a_method() -> None:
    assert probe_method(["GET", "POST"]) == "GET"
    assert probe_method(["POST"]) == "POST"
    assert probe_method(["DELETE", "PATCH"]) == "PATCH"
    assert probe_method([]) == "GET"


def test_the_proxys_own_word_wins_over_the_comparison() -> None:
    direct = Answer(404, "RESOURCE_DOES_NOT_EXIST", "")
    assert classify(direct, Answer(404, "ENDPOINT_NOT_FOUND", "not-forwarded")) == NOT_FORWARDED
    assert classify(direct, Answer(404, "RESOURCE_DOES_NOT_EXIST", "forwarded")) == FORWARDED
    assert classify(Answer(404, "", ""), Answer(404, "ENDPOINT_NOT_FOUND",
                                                "forwarded-html-404")) == FORWARDED


def test_a_silent_proxy_is_judged_by_same_status_and_error_code() -> None:
    direct = Answer(400, "INVALID_PARAMETER_VALUE", "")
    assert classify(direct, Answer(400, "INVALID_PARAMETER_VALUE", "")) == FORWARDED
    assert classify(direct, Answer(404, "", "")) == NOT_FORWARDED
    assert classify(direct, Answer(400, "ENDPOINT_NOT_FOUND", "")) == NOT_FORWARDED


def _pair(scenario: str, case: str, old: dict[str, Any], new: dict[str, Any]) -> list[CheckResult]:
    return [CheckResult(scenario, f"{case}[{side}]", side, version, Status.PASSED, 0.0,
                        case=case, observations=observed)
            for side, version, observed in (("from", "2.9.2", old), ("to", "3.4.0", new))]


def test_recorded_route_coverage_reports_new_unforwarded_routes_as_findings() -> None:
    case = "test_proxy.py::test_route_coverage"
    old, new = recorded(case, "2.9.2"), recorded(case)
    entries = {e.path: e for e in cross_version_diff(_pair("proxy", case, old, new))}
    traces = entries["routes./api/3.0/mlflow/traces/search"]
    assert (traces.old, traces.new, traces.classification) == ("<absent>", NOT_FORWARDED,
                                                               FINDING)
    assert traces.catalog_id == "route-not-forwarded-by-proxy"
    assert entries["routes./api/2.0/mlflow/logged-models"].catalog_id == \
        "route-added-and-forwarded"
    assert entries["routes./api/2.0mlflow/experiments/search-datasets"].new == NOT_FORWARDED
    assert not [e for e in entries.values() if e.classification == UNEXPECTED]


def test_a_route_removed_or_newly_dropped_by_the_proxy_is_caught() -> None:
    case = "test_proxy.py::test_route_coverage"
    old, new = recorded(case, "2.9.2"), recorded(case, "2.9.2")
    del new["routes"]["/api/2.0/mlflow/runs/search"]
    new["routes"]["/api/2.0/mlflow/runs/get"] = NOT_FORWARDED
    entries = {e.path: e for e in cross_version_diff(_pair("proxy", case, old, new))}
    assert entries["routes./api/2.0/mlflow/runs/search"].catalog_id == "route-removed"
    dropped = entries["routes./api/2.0/mlflow/runs/get"]
    assert (dropped.old, dropped.new) == (FORWARDED, NOT_FORWARDED)
    assert dropped.catalog_id == "route-not-forwarded-by-proxy"


@pytest.mark.parametrize("version", ["2.9.2", "3.4.0"])
def test_recorded_proxy_answers(version: str) -> None:
    tokens = recorded("test_proxy.py::test_bad_tokens_are_rejected_and_never_reach_the_server",
                      version)["answers"]
    assert tokens["valid"]["reached_server"] and tokens["valid"]["status"] == 200
    assert {case: a["status"] for case, a in tokens.items() if case != "valid"} == {
        "missing": 401, "malformed": 401, "empty-bearer": 401, "wrong": 401}
    assert not any(a["reached_server"] for case, a in tokens.items() if case != "valid")
    headers = recorded("test_proxy.py::test_headers_are_forwarded", version)
    assert "x-forwarded-user" in headers["added_headers"]


@pytest.mark.parametrize("version", ["2.9.2", "3.4.0"])
def test_basic_auth_check_catches_a_wrong_answer(version: str) -> None:
    good = recorded("test_basic_auth.py::test_basic_auth_app", version)
    verify_basic_auth(good)
    for key, wrong in (("no_credentials", 200), ("bob_tags_experiment_default", "ok"),
                       ("bob_old_password", 200), ("non_admin_creates_user", "ok")):
        broken = copy.deepcopy(good)
        broken[key] = wrong
        with pytest.raises(AssertionError, match=key):
            verify_basic_auth(broken)
    broken = copy.deepcopy(good)
    broken["bob_permissions"]["experiments"] = [[True, "READ"]]
    with pytest.raises(AssertionError, match="bob_permissions"):
        verify_basic_auth(broken)


def test_auth_migration_check_catches_loss() -> None:
    good = recorded("test_basic_auth.py::test_auth_database_migrates", "cross")
    verify_auth_migration(good)
    for tamper in (
        lambda r: r.update(rows_intact=False, damaged=["users"]),
        lambda r: r.update(upgrade_exit_code=1),
        lambda r: r.update(new_head="f1a2b3c4d5e6"),  # stopped short of the new head
        lambda r: r.update(new_reads_what_old_wrote=False),
        lambda r: next(iter(r["inventory"].values())).update(password_ok=False),
    ):
        broken = copy.deepcopy(good)
        tamper(broken)
        with pytest.raises(AssertionError):
            verify_auth_migration(broken)


def test_a_route_the_server_does_not_answer_is_no_answer_not_a_crash() -> None:
    """One hanging route (3.17.2's gateway model list, here) must not take the whole
    coverage down: it is recorded as "no answer", a finding in the diff."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.endswith("slow"):
                time.sleep(2)
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")
            except OSError:
                pass  # the probe gave up on the slow route

        def log_message(self, *args: Any) -> None:
            pass

    class Proxy:
        def request(self, method: str, path: str, body: Any, headers: Any,
                    timeout: float) -> tuple[int, dict[str, str], bytes]:
            return 200, {"X-Harness-Proxy": "forwarded"}, b"{}"

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        routes = coverage([{"rule": "/fast", "methods": ["GET"]},
                           {"rule": "/slow", "methods": ["GET"]}], url,
                          Proxy(), timeout=0.5)  # type: ignore[arg-type]
    finally:
        server.shutdown()
        server.server_close()
    assert routes == {"/fast": FORWARDED, "/slow": NO_ANSWER}
    found = finding("proxy", "routes./slow", "<absent>", NO_ANSWER)
    assert found is not None and found.id == "route-no-answer"
