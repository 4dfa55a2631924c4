"""The public URL's stand-in ingress and the probe: requests reach 127.0.0.1 as the team's
ingress sends them (Host, forwarded headers, path prefix), redirects to the public URL come
back to the front, the public host name is never looked up, and a refusal only the public URL
meets is a failed check with the server's answer and the catalogued fix."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.deploy import ingress
from harness.deploy.description import parse_table
from harness.deploy.ingress import IngressHandler, IngressSettings
from harness.deploy.reach import annotated, probe
from harness.deploy.routes import IngressFront, Route, ask
from harness.proxy.auth_proxy import serve
from harness.results.model import Status
from harness.runtime.ports import free_port
from harness.runtime.quiet_http import QuietHTTPServer

INVALID_HOST = "Invalid Host header - possible DNS rebinding attack detected"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


class Server:
    """A stand-in MLflow server on 127.0.0.1: its Host allow-list (as 3.5+ has one), a
    redirect to its public URL, and every request it got."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        self.seen: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                stub.seen.append({"path": self.path, "headers": dict(self.headers.items())})
                host = self.headers.get("Host", "").split(":")[0]
                if self.path.endswith("/redirect"):
                    self._send(302, b"", {"Location": "https://mlflow.example.com/ml/health"})
                elif "/health" not in self.path and host not in stub.allowed:
                    self._send(403, INVALID_HOST.encode(), {"Content-Type": "text/plain"})
                else:
                    self._send(200, b'{"experiments": []}',
                               {"Content-Type": "application/json"})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.label = "to-3.17.2"
        self.name = "mlflow server to-3.17.2"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Server]:
    stub = Server(allowed=("127.0.0.1", "localhost"))
    yield stub
    stub.http.shutdown()
    stub.http.server_close()


def _deployment(**table: Any) -> Any:
    return parse_table({"public-url": "https://mlflow.example.com/ml", **table}, Path("."),
                       "to.toml")


def _front(server: Server, tmp_path: Path, **table: Any) -> IngressFront:
    front = IngressFront("to", _deployment(**table), server, tmp_path)  # type: ignore[arg-type]
    return front.start()


def test_the_front_sends_requests_as_the_ingress_does(server: Server, tmp_path: Path) -> None:
    front = _front(server, tmp_path, **{"ingress-headers": {
        "X-Forwarded-For": "", "X-Forwarded-Proto": "", "X-Forwarded-Host": "",
        "X-Forwarded-Prefix": "", "X-Team-Ingress": "a"}})
    try:
        assert front.url == f"http://127.0.0.1:{front.port}/ml"
        answer = ask(front.port, "/ml/api/2.0/mlflow/experiments/search?max_results=1")
        headers = server.seen[-1]["headers"]
        assert server.seen[-1]["path"] == SEARCH  # no --static-prefix: the prefix is stripped
        assert headers["Host"] == "mlflow.example.com"
        assert headers["X-Forwarded-For"] == "127.0.0.1"
        assert (headers["X-Forwarded-Proto"], headers["X-Forwarded-Host"]) == (
            "https", "mlflow.example.com")
        assert (headers["X-Forwarded-Prefix"], headers["X-Team-Ingress"]) == ("/ml", "a")
        assert answer.status == 403 and answer.text == INVALID_HOST and not answer.by_front
        # A redirect to the public URL comes back to the front, never to the host name.
        redirect = ask(front.port, "/ml/redirect")
        assert redirect.status == 302
        with urllib.request.urlopen(f"{front.url}/health", timeout=5) as response:
            assert response.status == 200
        outside = ask(front.port, "/other/path")
        assert (outside.status, outside.by_front) == (404, "no-route")
    finally:
        front.stop()


def test_a_path_the_server_serves_itself_is_passed_on(server: Server, tmp_path: Path) -> None:
    front = _front(server, tmp_path, **{"server-options": "--static-prefix /ml"})
    try:
        ask(front.port, "/ml" + SEARCH)
        assert server.seen[-1]["path"] == "/ml" + SEARCH
    finally:
        front.stop()


def test_the_public_host_name_is_never_looked_up(server: Server,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The front in this process, with name resolution watched: only 127.0.0.1 is used."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def watched(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", watched)
    port = free_port()
    settings = IngressSettings({"upstream": server.url, "front": f"http://127.0.0.1:{port}",
                                "scheme": "https", "host_header": "mlflow.example.com",
                                "public_port": 443, "prefix": "/ml", "strip": True,
                                "headers": [["X-Forwarded-Host", ""]]})
    http = serve(port, settings, IngressHandler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/ml/redirect")
        opener = urllib.request.build_opener(urllib.request.HTTPRedirectHandler())
        with opener.open(request, timeout=5) as response:  # follows the rewritten redirect
            assert response.status == 200 and response.url.startswith(f"http://127.0.0.1:{port}")
    finally:
        http.shutdown()
        http.server_close()
    assert looked_up and set(looked_up) == {"127.0.0.1"}, looked_up


def test_the_ingress_program_refuses_bad_settings(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ingress.SETTINGS_ENV, json.dumps({"upstream": "x"}))
    assert ingress.main() == 2
    assert "bad settings" in capsys.readouterr().err


def _side(server: Server, route: Route, version: str = "3.17.2") -> Any:
    deployment = route.front.deployment if route.front else _deployment()
    return SimpleNamespace(role="to", version=version, server=server, route=route,
                           config=SimpleNamespace(deployment=deployment))


def test_a_refusal_only_the_public_url_meets_is_a_failed_check_with_the_fix(
        server: Server, tmp_path: Path) -> None:
    front = _front(server, tmp_path)
    route = Route(server, front)  # type: ignore[arg-type]
    try:
        found = probe(_side(server, route))
    finally:
        front.stop()
    assert found is not None
    reach, check = found
    assert (reach.public, reach.loopback, reach.refused) == (f"403 {INVALID_HOST}", "200", True)
    assert reach.fix.startswith("`--allowed-hosts mlflow.example.com` in its server options")
    assert "MLFLOW_SERVER_ALLOWED_HOSTS=mlflow.example.com" in reach.fix
    assert check.status is Status.FAILED and check.test == "deployment::public_url[to]"
    assert INVALID_HOST in check.message and "--allowed-hosts mlflow.example.com" in check.message
    assert route.refused and route.tracking_uri == server.url  # the scenarios go by 127.0.0.1
    # an older server has no such check: no catalogued fix is offered for it
    front = _front(server, tmp_path)
    try:
        old = probe(_side(server, Route(server, front), "3.4.0"))  # type: ignore[arg-type]
    finally:
        front.stop()
    assert old is not None and old[0].refused and old[0].fix == ""


def test_the_same_public_url_with_the_host_allowed_passes(tmp_path: Path) -> None:
    allowed = Server(allowed=("mlflow.example.com",))  # --allowed-hosts: loopback refused
    front = _front(allowed, tmp_path)
    route = Route(allowed, front)  # type: ignore[arg-type]
    try:
        found = probe(_side(allowed, route))
        assert found is not None
        reach, check = found
        assert check.status is Status.PASSED and not reach.refused and reach.public == "200"
        assert route.public and route.tracking_uri == front.url
        # a later failure carrying a catalogued refusal names the fix
        message = annotated("403 Forbidden", f"body: {INVALID_HOST}", _side(allowed, route))
        assert message.startswith("refused for the public URL https://mlflow.example.com/ml "
                                  "(fix: `--allowed-hosts mlflow.example.com`")
    finally:
        front.stop()
        allowed.http.shutdown()
        allowed.http.server_close()
