"""The reference auth proxy: what teams put in front of MLflow, as a small stdlib program.

    python -m harness.proxy.auth_proxy --upstream http://127.0.0.1:5000 --port 8080

- `GET /health` answers 200 without a token (for load balancers and the harness's readiness).
- Every other request needs `Authorization: Bearer <token>` (the token is read from the
  environment variable named by `--token-env`); missing, malformed or wrong tokens get a JSON 401
  and never reach the server. The header is forwarded intact.
- Only paths under the `--forward` prefixes are forwarded (default: `/api/2.0/mlflow/` and
  `/api/2.0/mlflow-artifacts/`, as the upgrade notes describe); anything else gets a JSON 404.
- Forwarded requests get user-context headers: `X-Forwarded-User`, `X-Request-Id`,
  `X-Forwarded-For`, `X-Forwarded-Host`, `X-Forwarded-Proto`.
- An HTML 404 page from the server becomes a JSON error; a server that refuses the connection
  gives 502, one that does not answer within `--upstream-timeout` gives 504.
- Bodies are streamed both ways (64 KiB at a time), so large artifacts pass through.
- Every answer says who produced it in `X-Harness-Proxy` (`forwarded`, `not-forwarded`,
  `rejected`, `bad-gateway`, `timeout`, `health`).
- One JSON line per request goes to `--access-log` (method, path, status, decision, ms); the
  token never does.
"""

from __future__ import annotations

import argparse
import hmac
import http.client
import json
import os
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import urlsplit

DEFAULT_FORWARD = ("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/")
TOKEN_ENV = "MLFLOW_UPGRADE_HARNESS_PROXY_TOKEN"
USER = "harness-user"
CHUNK = 64 * 1024
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}


class ProxySettings:
    def __init__(self, upstream: str, token: str, forward: tuple[str, ...], timeout: float,
                 access_log: IO[str] | None, delays: tuple[tuple[str, float], ...] = ()) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.token = token
        self.forward = forward
        self.timeout = timeout
        self.access_log = access_log
        self.delays = delays
        self.lock = threading.Lock()

    def delay_for(self, path: str) -> float:
        """Seconds to hold a forwarded request back (latency injection for benchmarks)."""
        return next((seconds for prefix, seconds in self.delays if path.startswith(prefix)), 0.0)

    def log(self, entry: dict[str, Any]) -> None:
        if self.access_log is None:
            return
        with self.lock:
            self.access_log.write(json.dumps(entry) + "\n")
            self.access_log.flush()


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    settings: ProxySettings  # set on the subclass built by `serve`
    decision = "unknown"  # who answered this request, sent as X-Harness-Proxy
    html_404_as_json = True  # a server's HTML 404 page becomes a JSON error

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm
        # and the peer's delayed ACK stall small responses by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

    def _handle(self) -> None:
        started = time.monotonic()
        path = urlsplit(self.path).path
        status, decision = self._decide_and_answer(path)
        self.settings.log({
            "method": self.command, "path": path, "status": status, "decision": decision,
            "ms": round((time.monotonic() - started) * 1000, 1),
        })

    def _decide_and_answer(self, path: str) -> tuple[int, str]:
        self.decision = "health"
        if path == "/health" and self.command in ("GET", "HEAD"):
            return self._json(200, {"status": "ok"}), "health"
        problem = self._token_problem() if self.settings.token else ""
        self.decision = "rejected"
        if problem:
            self._discard_body()
            return self._json(401, {"error_code": "UNAUTHENTICATED", "message": problem}), \
                "rejected"
        self.decision = "not-forwarded"
        if not path.startswith(self.settings.forward):
            self._discard_body()
            return self._json(404, {
                "error_code": "ENDPOINT_NOT_FOUND",
                "message": f"route not forwarded by the proxy: {path}",
            }), "not-forwarded"
        return self._forward(path)

    def _token_problem(self) -> str:
        header = self.headers.get("Authorization")
        if header is None:
            return "missing bearer token"
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token.strip() or " " in token.strip():
            return "malformed Authorization header: expected 'Bearer <token>'"
        if not hmac.compare_digest(token.strip().encode(), self.settings.token.encode()):
            return "invalid token"
        return ""

    def _forward(self, path: str) -> tuple[int, str]:
        settings = self.settings
        delay = settings.delay_for(path)
        if delay:
            time.sleep(delay)
        connection = http.client.HTTPConnection(
            settings.upstream_host, settings.upstream_port, timeout=settings.timeout
        )
        try:
            try:
                connection.connect()
                if connection.sock is not None:
                    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connection.putrequest(self.command, self.path, skip_host=True,
                                      skip_accept_encoding=True)
                added = self._upstream_headers()
                replaced = HOP_BY_HOP | {name.lower() for name in added}
                for name, value in self.headers.items():
                    if name.lower() not in replaced:
                        connection.putheader(name, value)
                for name, value in added.items():
                    connection.putheader(name, value)
                self._send_body(connection)
                response = connection.getresponse()
            except TimeoutError:
                self.decision = "timeout"
                return self._json(504, {"error_code": "GATEWAY_TIMEOUT",
                                        "message": f"upstream did not answer {path} in "
                                                   f"{settings.timeout:g}s"}), "timeout"
            except OSError as error:
                self.decision = "bad-gateway"
                return self._json(502, {"error_code": "BAD_GATEWAY",
                                        "message": f"upstream unreachable: {error}"}), \
                    "bad-gateway"
            content_type = response.getheader("Content-Type", "")
            self.decision = "forwarded"
            if self.html_404_as_json and response.status == 404 and \
                    content_type.startswith("text/html"):
                response.read()
                return self._json(404, {"error_code": "ENDPOINT_NOT_FOUND",
                                        "message": f"the server has no route {path}"}), \
                    "forwarded-html-404"
            self._relay(response)
            return response.status, "forwarded"
        finally:
            connection.close()

    def end_headers(self) -> None:
        # Says who answered: tools (the harness's route coverage) need not guess.
        self.send_header("X-Harness-Proxy", self.decision)
        super().end_headers()

    def _upstream_headers(self) -> dict[str, str]:
        """Set on every forwarded request, over the client's own: Host and the context."""
        settings = self.settings
        return {"Host": f"{settings.upstream_host}:{settings.upstream_port}",
                **self._context_headers()}

    def _context_headers(self) -> dict[str, str]:
        return {
            "X-Forwarded-User": USER,
            "X-Request-Id": self.headers.get("X-Request-Id") or uuid.uuid4().hex,
            "X-Forwarded-For": self.client_address[0],
            "X-Forwarded-Host": self.headers.get("Host", ""),
            "X-Forwarded-Proto": "http",
        }

    def _send_body(self, connection: http.client.HTTPConnection) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            connection.putheader("Transfer-Encoding", "chunked")
            connection.endheaders()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    connection.send(b"0\r\n\r\n")
                    return
                data = self.rfile.read(size)
                self.rfile.readline()
                connection.send(f"{size:x}\r\n".encode() + data + b"\r\n")
        length = int(self.headers.get("Content-Length") or 0)
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        while length > 0:
            data = self.rfile.read(min(CHUNK, length))
            if not data:
                break
            connection.send(data)
            length -= len(data)

    def _relay(self, response: http.client.HTTPResponse) -> None:
        self.send_response(response.status, response.reason)
        length = response.getheader("Content-Length")
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, self._relayed(name, value))
        if length is not None:
            self.send_header("Content-Length", length)
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        while data := response.read(CHUNK):
            if length is None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            else:
                self.wfile.write(data)
        if length is None:
            self.wfile.write(b"0\r\n\r\n")

    def _relayed(self, name: str, value: str) -> str:
        """A response header as it goes back to the client (unchanged here)."""
        return value

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            data = self.rfile.read(min(CHUNK, length))
            if not data:
                break
            length -= len(data)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True

    def _json(self, status: int, body: dict[str, Any]) -> int:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # the access log is JSON lines, written by _handle


def serve(port: int, settings: ProxySettings,
          kind: type[ProxyHandler] | None = None) -> ThreadingHTTPServer:
    handler = type("BoundProxyHandler", (kind or ProxyHandler,), {"settings": settings})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.proxy.auth_proxy",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="MLflow server URL")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-env", default=TOKEN_ENV,
                        help="environment variable holding the accepted token")
    parser.add_argument("--forward", action="append", metavar="PREFIX",
                        help="path prefix to forward (repeatable; default: the MLflow REST API "
                             "and artifact routes)")
    parser.add_argument("--upstream-timeout", type=float, default=120.0)
    parser.add_argument("--access-log", help="JSON-lines access log file")
    parser.add_argument("--no-auth", action="store_true",
                        help="forward without checking a token (benchmarks' pass-through proxy)")
    parser.add_argument("--delay", action="append", default=[], metavar="PREFIX=SECONDS",
                        help="hold requests under PREFIX back by SECONDS (latency injection)")
    args = parser.parse_args(argv)
    token = "" if args.no_auth else os.environ.get(args.token_env, "")
    if not token and not args.no_auth:
        print(f"auth proxy: set {args.token_env} to the accepted token", file=sys.stderr)
        return 2
    log = open(args.access_log, "a") if args.access_log else None  # noqa: SIM115
    try:
        delays = tuple((prefix, float(seconds)) for prefix, _, seconds in
                       (item.rpartition("=") for item in args.delay))
    except ValueError:
        print("auth proxy: --delay takes PREFIX=SECONDS", file=sys.stderr)
        return 2
    settings = ProxySettings(args.upstream, token, tuple(args.forward or DEFAULT_FORWARD),
                             args.upstream_timeout, log, delays)
    try:
        server = serve(args.port, settings)
    except OSError as error:
        print(f"auth proxy: cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr)
        return 2
    print(f"auth proxy on 127.0.0.1:{args.port} -> {args.upstream}", file=sys.stderr, flush=True)
    return serve_until_stopped(server)


def serve_until_stopped(server: ThreadingHTTPServer) -> int:
    """Serve until SIGTERM/Ctrl-C, then close the socket; the program's exit code."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
