"""Through a proxy that drops a route the client needs, the workflow fails naming that route.

The team's-proxy path (`--proxy-command`) is exercised with the reference proxy told to forward
everything the tracking workflow uses but not the model registry.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import harness_processes, run_cli

pytestmark = pytest.mark.integration
FORWARD = ("/api/2.0/mlflow/experiments/", "/api/2.0/mlflow/runs/", "/api/2.0/mlflow/metrics/",
           "/api/2.0/mlflow-artifacts/", "/api/2.0/mlflow/logged-models")
TEMPLATE = (f"{sys.executable} -m harness.proxy.auth_proxy --upstream {{upstream}} "
            f"--port {{port}} --token-env {{token_env}} "
            + " ".join(f"--forward {prefix}" for prefix in FORWARD))


def test_a_route_the_proxy_drops_fails_the_workflow_naming_it(tmp_path: Path) -> None:
    run = run_cli("run", "--from", "2.9.2", "--to", "3.4.0", "--quiet", "--no-bench", "--out",
                  str(tmp_path / "out"), "-k", "test_proxy and (workflow or coverage or token)",
                  "--proxy-command", TEMPLATE)
    assert run.code == 1, run.stderr
    results = json.loads((run.out / "results.json").read_text())
    checks = {(c["case"].split("::")[-1], c["side"]): c for c in results["checks"]}
    for side in ("from", "to"):
        assert checks[("test_workflow_through_proxy[tracking]", side)]["status"] == "passed"
        assert checks[("test_bad_tokens_are_rejected_and_never_reach_the_server", side)][
            "status"] == "passed"
        models = checks[("test_workflow_through_proxy[models]", side)]
        assert models["status"] == "failed"
        assert "works directly but fails through the proxy" in models["message"]
        assert "/api/2.0/mlflow/registered-models/" in models["message"]
        routes = checks[("test_route_coverage", side)]
        assert routes["status"] == "failed"
        assert "MLflow REST routes" in routes["message"]
        coverage = routes["observations"]["routes"]
        assert coverage["/api/2.0/mlflow/registered-models/create"] == "not forwarded"
        assert coverage["/api/2.0/mlflow/runs/create"] == "forwarded"
    assert harness_processes(results["run_id"]) == set()
