"""The reference auth proxy, run as its own process in front of a stub upstream."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from harness.errors import UsageError
from harness.proxy import auth_proxy
from harness.proxy.auth_proxy import TOKEN_ENV
from harness.proxy.service import AuthProxy, ProxyOptions, check_template
from harness.runtime.ports import free_port
from harness.runtime.quiet_http import QuietHTTPServer

TOKEN = "s3cret-token-for-tests"
BIG = os.urandom(3 * 1024 * 1024)
NO_WAIT = ProxyOptions(expect_forwarding=False)  # a stub or dead upstream


class Upstream:
    """Records what reached it; answers per path."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                upstream.seen.append({"method": self.command, "path": self.path,
                                      "headers": dict(self.headers.items()),
                                      "sha": hashlib.sha256(body).hexdigest()})
                if self.path.endswith("/html404"):
                    self._send(404, b"<html>Not Found</html>", "text/html; charset=utf-8")
                elif self.path.endswith("/big"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(BIG), 100_000):
                        part = BIG[start:start + 100_000]
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                elif self.path.endswith("/slow"):
                    time.sleep(4)
                    self._send(200, b"{}", "application/json")
                else:
                    self._send(200, json.dumps({"sha": upstream.seen[-1]["sha"]}).encode(),
                               "application/json")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    stub = Upstream()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


@pytest.fixture(scope="module")
def proxy(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthProxy]:
    logs = tmp_path_factory.mktemp("proxy")
    with AuthProxy("unit", upstream.url, TOKEN, logs,
                   options=ProxyOptions(1.5, expect_forwarding=False)) as running:
        yield running


def reached(upstream: Upstream, marker: str) -> bool:
    return any(marker in seen["path"] for seen in upstream.seen)


def test_health_needs_no_token(proxy: AuthProxy) -> None:
    status, _, body = proxy.request("GET", "/health", token=None)
    assert status == 200 and json.loads(body) == {"status": "ok"}


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "bearer " + TOKEN, "Basic " + TOKEN, TOKEN,
    "Bearer wrong-token", "Bearer " + TOKEN + "x", "Bearer " + TOKEN + " extra",
])
def test_bad_tokens_get_401_and_never_reach_the_server(
    proxy: AuthProxy, upstream: Upstream, authorization: str | None
) -> None:
    marker = f"bad-{abs(hash(authorization))}"
    headers = {} if authorization is None else {"Authorization": authorization}
    status, answer_headers, body = proxy.request(
        "POST", f"/api/2.0/mlflow/experiments/create?m={marker}", b'{"name": "x"}',
        headers=headers, token=None)
    assert status == 401
    assert answer_headers["Content-Type"] == "application/json"
    assert json.loads(body)["error_code"] == "UNAUTHENTICATED"
    assert not reached(upstream, marker)


def test_valid_token_is_forwarded_with_headers_intact_and_user_context(
    proxy: AuthProxy, upstream: Upstream
) -> None:
    status, _, _ = proxy.request("GET", "/api/2.0/mlflow/runs/get?run_id=fwd",
                                 headers={"X-Custom": "kept"})
    assert status == 200
    headers = next(s for s in upstream.seen if "run_id=fwd" in s["path"])["headers"]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["X-Custom"] == "kept"
    assert headers["X-Forwarded-User"] and headers["X-Request-Id"]
    assert headers["X-Forwarded-For"] == "127.0.0.1"


def test_routes_outside_the_forwarded_prefixes_get_json_404(
    proxy: AuthProxy, upstream: Upstream
) -> None:
    for path in ("/api/3.0/mlflow/traces/search", "/ajax-api/2.0/mlflow/runs/get",
                 "/graphql", "/api/2.0mlflow/experiments/search-datasets"):
        status, headers, body = proxy.request("GET", path)
        assert status == 404 and headers["Content-Type"] == "application/json"
        assert json.loads(body)["error_code"] == "ENDPOINT_NOT_FOUND"
        assert not reached(upstream, path)


def test_html_404_becomes_json(proxy: AuthProxy) -> None:
    status, headers, body = proxy.request("GET", "/api/2.0/mlflow/html404")
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert "no route" in json.loads(body)["message"]


def test_large_bodies_stream_both_ways(proxy: AuthProxy) -> None:
    status, _, body = proxy.request("POST", "/api/2.0/mlflow-artifacts/artifacts/up", BIG)
    assert status == 200 and json.loads(body)["sha"] == hashlib.sha256(BIG).hexdigest()
    status, _, body = proxy.request("GET", "/api/2.0/mlflow-artifacts/artifacts/big")
    assert status == 200 and body == BIG


def test_slow_upstream_is_a_504_within_the_timeout(proxy: AuthProxy) -> None:
    started = time.monotonic()
    status, _, body = proxy.request("GET", "/api/2.0/mlflow/slow")
    assert status == 504 and json.loads(body)["error_code"] == "GATEWAY_TIMEOUT"
    assert time.monotonic() - started < 4


def test_dead_upstream_is_a_502(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with AuthProxy("dead", dead, TOKEN, tmp_path, options=NO_WAIT) as proxy:
        started = time.monotonic()
        status, _, body = proxy.request("GET", "/api/2.0/mlflow/experiments/search")
        assert status == 502 and json.loads(body)["error_code"] == "BAD_GATEWAY"
        assert time.monotonic() - started < 5


def test_access_log_records_decisions_but_never_the_token(proxy: AuthProxy) -> None:
    proxy.request("GET", "/api/2.0/mlflow/runs/get?run_id=logged")
    proxy.request("GET", "/graphql")
    assert proxy.request("GET", "/api/2.0/mlflow/runs/get?run_id=x", token="wrong")[0] == 401
    decisions = {entry["decision"] for entry in proxy.access_entries()}
    assert {"forwarded", "not-forwarded", "rejected"} <= decisions
    assert TOKEN not in proxy.access_log.read_text()
    assert TOKEN not in proxy.logs(1000)


def test_proxy_without_a_token_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert auth_proxy.main(["--upstream", "http://127.0.0.1:1", "--port", "1"]) == 2


def test_pass_through_proxy_with_injected_latency(upstream: Upstream, tmp_path: Path) -> None:
    """The benchmarks' proxy: no token, and a fixed delay on chosen routes only."""
    with AuthProxy("delay", upstream.url, "", tmp_path, options=NO_WAIT,
                   delays=(("/api/2.0/mlflow/runs/get", 0.3),)) as proxy:
        started = time.monotonic()
        assert proxy.request("GET", "/api/2.0/mlflow/runs/get?run_id=d", token=None)[0] == 200
        delayed = time.monotonic() - started
        started = time.monotonic()
        assert proxy.request("GET", "/api/2.0/mlflow/runs/search", token=None)[0] == 200
        direct = time.monotonic() - started
    assert delayed >= 0.3 and direct < 0.2


@pytest.mark.parametrize(("template", "problem"), [
    ("my-proxy --listen {port}", "must contain {upstream} and {port}"),
    ("my-proxy {upstream} {port} {secret}", "bad template"),
    ("my-proxy '{upstream} {port}", "bad template"),
])
def test_bad_proxy_templates_are_one_line_errors(template: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        check_template(template)


def test_a_user_template_runs_in_place_of_the_reference(
    upstream: Upstream, tmp_path: Path
) -> None:
    template = (f"{sys.executable} -m harness.proxy.auth_proxy --upstream {{upstream}} "
                f"--port {{port}} --token-env {{token_env}} --forward /api/2.0/mlflow/runs/")
    with AuthProxy("user", upstream.url, TOKEN, tmp_path, command_template=check_template(
            template), options=NO_WAIT) as proxy:
        assert proxy.request("GET", "/api/2.0/mlflow/runs/get?run_id=user")[0] == 200
        assert proxy.request("GET", "/api/2.0/mlflow/experiments/search")[0] == 404
