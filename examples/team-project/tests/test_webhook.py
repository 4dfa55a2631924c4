"""Unit tests: webhook delivery with retries, against a local receiver."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import team_mlops.webhook as webhook


def _receiver(codes: list[int]) -> tuple[HTTPServer, list[str]]:
    keys: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            keys.append(self.headers["Idempotency-Key"])
            self.send_response(codes.pop(0) if codes else 200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, keys


def test_retried_after_5xx(monkeypatch) -> None:
    monkeypatch.setattr(webhook, "FIRST_BACKOFF_S", 0.01)
    server, keys = _receiver([503, 503])
    url = f"http://127.0.0.1:{server.server_port}/hook"
    assert webhook.notify(url, {"model": "m"}, key="m/2") == {
        "sent": True, "attempts": 3, "status": 200}
    assert keys == ["m/2"] * 3
    server.shutdown()


def test_4xx_is_not_retried() -> None:
    server, keys = _receiver([400])
    url = f"http://127.0.0.1:{server.server_port}/hook"
    assert webhook.notify(url, {}, key="k")["attempts"] == 1
    server.shutdown()
