"""An auth proxy in front of each version: token checks, forwarding, errors, route coverage.

The proxy is the reference one (`harness/proxy/auth_proxy.py`) or the team's own
(`--proxy-command`). Through it, each version's own client runs the same workflow the direct
scenarios run, and must pass the same checks; a step that fails only through the proxy is
reported naming the route the proxy refused.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote

import pytest

from harness.errors import ClientCallError
from harness.plugin import Client
from harness.proxy.coverage import FORWARDED, coverage
from harness.proxy.service import AuthProxy, ProxyOptions, http_request
from harness.redact import register_secret
from harness.runtime.ports import free_port
from harness.scenarios.test_artifacts import s3_keys, verify_artifacts
from harness.scenarios.test_serving import verify_serving
from harness.scenarios.test_tracking import verify_tracking
from harness.services.silent import SilentServer
from harness.services.webhook import WebhookReceiver
from harness.session import RunSession, SideRuntime

Observe = Callable[[dict[str, Any]], None]
ProxyFactory = Callable[..., AbstractContextManager[AuthProxy]]
LANE_SECONDS = 10  # its typical seconds on one side: how a client's lanes share the modules
CORE_PREFIXES = ("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/")
# A sanity bound, not a performance check: a refused connection makes the 502 in milliseconds
# even on a busy machine; only a proxy that hangs or keeps retrying a dead upstream gets near it.
# What the proxy decided (502 as JSON; the reference proxy also says `bad-gateway`, not
# `timeout`, in X-Harness-Proxy) is asserted first.
UPSTREAM_DOWN_BOUND_S = 10.0
SLOW_UPSTREAM_TIMEOUT_S = 2.0
# A stand-in or dead upstream: no authenticated request to wait for at the proxy's start.
NO_FORWARDING_WAIT = ProxyOptions(expect_forwarding=False)
_ROUTE_IN_ERROR = re.compile(r"/(?:ajax-)?api/[\w./-]+")


@pytest.fixture(scope="session")
def proxy_token() -> str:
    token = secrets.token_urlsafe(24)
    register_secret(token)
    return token


@pytest.fixture(scope="session")
def proxy_factory(harness_session: RunSession, proxy_token: str,
                  request: pytest.FixtureRequest) -> ProxyFactory:
    """A proxy of the run's kind (reference or --proxy-command) in front of any upstream."""
    template = request.config.getoption("proxy_command", None)

    def make(label: str, upstream: str, **options: Any) -> AuthProxy:
        return AuthProxy(label, upstream, proxy_token, harness_session.log_dir,
                         command_template=template, **options)

    return make


@pytest.fixture(scope="session")
def auth_proxy(mlflow_side: SideRuntime, proxy_factory: ProxyFactory) -> Iterator[AuthProxy]:
    """The proxy in front of this side's server, for the whole session."""
    with proxy_factory(f"{mlflow_side.role}-{mlflow_side.version}", mlflow_side.server.url) as p:
        yield p


def refused_routes(proxy: AuthProxy, since: int, error: str) -> list[str]:
    """Routes the proxy did not forward since entry `since` of its access log; for a team's
    proxy (no log), the routes named in the client's error."""
    entries = proxy.access_entries()[since:]
    refused = [f"{e['method']} {e['path']} ({e['status']} {e['decision']})" for e in entries
               if not str(e["decision"]).startswith("forwarded")]
    return refused or sorted(set(_ROUTE_IN_ERROR.findall(error)))


STEPS: dict[str, tuple[str, dict[str, Any]]] = {
    "tracking": ("tracking:roundtrip", {}),
    "models": ("serving:register_and_serve", {}),
    "artifacts": ("artifacts:round_trip", {"large_mb": 2}),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_workflow_through_proxy(
    side: str,
    step: str,
    auth_proxy: AuthProxy,
    client_via: Callable[[str], Client],
    mlflow_client: Client,
    observe: Observe,
    run_prefix: str,
    harness_session: RunSession,
) -> None:
    target, options = STEPS[step]
    prefix = f"{run_prefix}-{side}-proxied-{step}"
    since = len(auth_proxy.access_entries())
    try:
        result = client_via(auth_proxy.url).call(
            "proxied:call", token=auth_proxy.token, client_function=target, prefix=prefix, **options
        )
    except ClientCallError as error:
        routes = refused_routes(auth_proxy, since, str(error))
        try:
            mlflow_client.call(target, prefix=f"{prefix}-direct", **options)
            direct = "works directly"
        except ClientCallError:
            direct = "fails directly too"
        pytest.fail(f"{step} {direct} but fails through the proxy; refused: "
                    f"{'; '.join(routes[:5]) or 'no route named'} — {str(error)[:300]}")
    observe({"step": step, "passed_through_proxy": True})
    if step == "tracking":
        verify_tracking(result)
    elif step == "models":
        verify_serving(result)
    else:
        verify_artifacts(result, s3_keys(harness_session, side, result["run_id"]))


BAD_AUTHORIZATION = {
    "missing": None,
    "malformed": "Token abc",
    "empty-bearer": "Bearer ",
    "wrong": "Bearer not-the-token",
}


def test_bad_tokens_are_rejected_and_never_reach_the_server(
    side: str, auth_proxy: AuthProxy, mlflow_side: SideRuntime, observe: Observe,
    run_prefix: str,
) -> None:
    answers = {}
    for case, authorization in [*BAD_AUTHORIZATION.items(), ("valid", "")]:
        name = f"{run_prefix}-{side}-token-{case}"
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        status, answer_headers, body = auth_proxy.request(
            "POST", "/api/2.0/mlflow/experiments/create", json.dumps({"name": name}).encode(),
            headers=headers, token="" if case == "valid" else None,
        )
        exists, _, _ = http_request(f"{mlflow_side.server.url}/api/2.0/mlflow/experiments/"
                                    f"get-by-name?experiment_name={quote(name)}")
        answers[case] = {"status": status, "json_error": _is_json(answer_headers, body),
                         "reached_server": exists == 200}
    observe({"answers": answers})
    assert answers["valid"] == {"status": 200, "json_error": True, "reached_server": True}
    for case in BAD_AUTHORIZATION:
        want = {"status": 401, "json_error": True, "reached_server": False}
        assert answers[case] == want, f"{case} token: {answers[case]}"


def _is_json(headers: dict[str, str], body: bytes) -> bool:
    kind = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    try:
        return kind.startswith("application/json") and isinstance(json.loads(body), dict)
    except ValueError:
        return False


def test_headers_are_forwarded(side: str, proxy_factory: ProxyFactory, observe: Observe) -> None:
    """Authorization intact, the client's own headers kept, user context added."""
    with WebhookReceiver() as upstream, proxy_factory(
        f"{side}-headers", upstream.base_url, options=NO_FORWARDING_WAIT
    ) as proxy:
        sent = {"X-Client-Trace": f"trace-{side}"}
        status, _, _ = proxy.request("GET", "/api/2.0/mlflow/experiments/search?max_results=1",
                                     headers=sent)
        [arrived] = upstream.all()
    received = {k.lower(): v for k, v in arrived.headers.items()}
    added = sorted(k for k in received if k.startswith("x-") and k != "x-client-trace")
    observe({"status": status, "added_headers": added})
    assert status == 200
    assert received.get("authorization") == f"Bearer {proxy.token}", "Authorization not intact"
    assert received.get("x-client-trace") == f"trace-{side}", "client header dropped"
    assert any("user" in name for name in added), f"no user-context header added: {added}"


def test_html_404_becomes_json(
    side: str, auth_proxy: AuthProxy, mlflow_side: SideRuntime, observe: Observe
) -> None:
    path = "/api/2.0/mlflow/harness-no-such-route"
    direct_status, direct_headers, _ = http_request(mlflow_side.server.url + path)
    status, headers, body = auth_proxy.request("GET", path)
    direct_type = {k.lower(): v for k, v in direct_headers.items()}.get("content-type", "")
    observe({"direct": [direct_status, direct_type.split(";")[0]], "proxied": status})
    assert direct_status == 404
    assert status == 404 and _is_json(headers, body), "the proxy passed a non-JSON 404 on"


def test_upstream_down_is_502_and_silent_upstream_504(
    side: str, proxy_factory: ProxyFactory, observe: Observe
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with proxy_factory(f"{side}-dead", dead, options=NO_FORWARDING_WAIT) as proxy:
        reference = proxy.is_reference
        started = time.monotonic()
        try:
            down, down_headers, body = proxy.request(
                "GET", "/api/2.0/mlflow/experiments/search", timeout=UPSTREAM_DOWN_BOUND_S + 5)
        except OSError as error:  # no answer at all (a timeout is an OSError)
            raise AssertionError(f"the proxy gave no answer for a dead upstream after "
                                 f"{time.monotonic() - started:.1f}s: {error}") from error
        down_seconds = time.monotonic() - started
    with SilentServer() as silent, proxy_factory(
        f"{side}-silent", silent.url,
        options=ProxyOptions(SLOW_UPSTREAM_TIMEOUT_S, expect_forwarding=False),
    ) as proxy:
        started = time.monotonic()
        slow, slow_headers, _ = proxy.request("GET", "/api/2.0/mlflow/experiments/search",
                                              timeout=150)
        slow_seconds = time.monotonic() - started
    observe({"down": down, "silent": slow})
    assert down == 502, f"a dead upstream gave {down}, not 502"
    assert _is_json(down_headers, body), "the 502 is not a JSON error"
    assert slow == 504, f"a silent upstream gave {slow} after {slow_seconds:.1f}s, not 504"
    if reference:  # the reference proxy names its decision; a team's proxy need not
        assert _decision(down_headers) == "bad-gateway", (
            f"the proxy decided {_decision(down_headers)!r} for a refused connection")
        assert _decision(slow_headers) == "timeout", (
            f"the proxy decided {_decision(slow_headers)!r} for a silent upstream")
    assert down_seconds < UPSTREAM_DOWN_BOUND_S, (
        f"the 502 for a dead upstream took {down_seconds:.1f}s (sanity bound "
        f"{UPSTREAM_DOWN_BOUND_S:g}s; milliseconds are normal): the proxy hangs or keeps "
        f"retrying a refused connection"
    )


def _decision(headers: dict[str, str]) -> str | None:
    """The reference proxy's X-Harness-Proxy header: what it decided for the request."""
    return {k.lower(): v for k, v in headers.items()}.get("x-harness-proxy")


def test_route_coverage(
    side: str, mlflow_client: Client, auth_proxy: AuthProxy, mlflow_side: SideRuntime,
    observe: Observe,
) -> None:
    """Every route the server serves (from its own app), forwarded or not; new unforwarded
    routes show up as findings in the old-vs-new diff."""
    served = mlflow_client.call("routes:served")
    routes = coverage(served, mlflow_side.server.url, auth_proxy)
    observe({"routes": routes})
    core = [rule for rule in routes if rule.startswith(CORE_PREFIXES)]
    dropped = [rule for rule in core if routes[rule] != FORWARDED]
    assert core, "the server reported no REST routes"
    assert not dropped, (f"the proxy does not forward {len(dropped)} MLflow REST routes, "
                         f"e.g. {dropped[:10]}")
