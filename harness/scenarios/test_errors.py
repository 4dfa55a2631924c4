"""Malformed and invalid requests: each server's HTTP status and MLflow error code; and a
client against a stopped server fails within a bounded time."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from harness.plugin import Client
from harness.runtime.ports import free_port
from harness.session import SideRuntime

LANE_SECONDS = 1  # its typical seconds on one side: how a client's lanes share the modules
API = "/api/2.0/mlflow"
UNKNOWN_RUN = "0" * 32
REQUESTS: dict[str, tuple[str, str, bytes | None]] = {
    "bad_json": ("POST", f"{API}/experiments/create", b"{not json"),
    "wrong_type": ("POST", f"{API}/experiments/create", b'{"name": 123}'),
    "missing_field": ("POST", f"{API}/experiments/create", b"{}"),
    "metric_not_a_number": (
        "POST", f"{API}/runs/log-metric",
        json.dumps({"run_id": UNKNOWN_RUN, "key": "m", "value": "abc", "timestamp": 1}).encode(),
    ),
    "unknown_run": ("GET", f"{API}/runs/get?run_id={UNKNOWN_RUN}", None),
    "unknown_experiment": ("GET", f"{API}/experiments/get?experiment_id=987654321", None),
    "unknown_model": ("GET", f"{API}/registered-models/get?name=muh-does-not-exist", None),
    "unknown_route": ("GET", f"{API}/does-not-exist", None),
}
# A sanity bound, not a performance check. The client runs with one HTTP retry and a backoff
# factor of 1 (harness/agent/client.py), so a refused connection fails within a second or two;
# only a client that hangs or retries on and on (MLflow's defaults: minutes) gets near 30 s. The
# decision itself, that the call raises, is asserted first.
BOUND_S = 30.0


def send(base: str, method: str, path: str, body: bytes | None) -> dict[str, Any]:
    request = urllib.request.Request(base + path, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, raw, ctype = response.status, response.read(), response.headers.get(
                "Content-Type", "")
    except urllib.error.HTTPError as error:
        status, raw, ctype = error.code, error.read(), error.headers.get("Content-Type", "")
    try:
        error_code = json.loads(raw).get("error_code", "<no error_code>")
    except (ValueError, AttributeError):
        error_code = "<not json>"
    return {"status": status, "error_code": error_code,
            "content_type": ctype.split(";")[0].strip()}


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_invalid_request(
    side: str, mlflow_side: SideRuntime, observe: Callable[[dict[str, Any]], None], case: str
) -> None:
    method, path, body = REQUESTS[case]
    result = send(mlflow_side.tracking_uri, method, path, body)
    observe(result)
    verify_invalid_request(case, result)


def verify_invalid_request(case: str, result: dict[str, Any]) -> None:
    """A malformed or invalid request is the client's error (4xx), never a crash (5xx)."""
    assert 400 <= result["status"] < 500, f"{case}: expected a client error, got {result}"


def test_stopped_server_fails_fast(
    side: str, mlflow_client: Client, observe: Callable[[dict[str, Any]], None]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = mlflow_client.call("errors:against_stopped_server", dead_uri=dead, timeout=120)
    observe({"outcome": result["outcome"], "exception": result["exception"]})
    verify_stopped_server(result)


def verify_stopped_server(result: dict[str, Any]) -> None:
    assert result["outcome"] == "raised", (
        f"a call to a stopped server must raise, it {result['outcome']}")
    assert result["failure_seconds"] < BOUND_S, (
        f"a call to a stopped server took {result['failure_seconds']}s to fail (sanity bound "
        f"{BOUND_S:g}s; a second or two is normal): it hangs or keeps retrying"
    )
