"""A local webhook receiver: records every request (method-agnostic) and answers as scripted.

Also serves as the upstream that shows which headers a proxy forwards.

It listens on 127.0.0.1 only, in a thread of the harness process. A scenario can make it answer
5xx to the first N deliveries of one key (to exercise retries with backoff) or to all of them
(an unavailable receiver). Deliveries are recorded with their arrival time, headers and body.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from harness.runtime.quiet_http import QuietHTTPServer
from harness.services.base import Service

MAX_BODY_BYTES = 1_000_000
ALWAYS = -1


@dataclass
class Delivery:
    """One HTTP request the receiver got, and what it answered."""

    path: str
    key: str
    headers: dict[str, str]
    body: Any
    answered: int
    arrived_seconds: float  # monotonic seconds since the receiver started

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Script:
    failures: dict[str, int] = field(default_factory=dict)
    status: int = 503


class WebhookReceiver(Service):
    """`with WebhookReceiver() as hook: hook.url` — deliveries in `hook.deliveries(key)`."""

    name = "webhook receiver"

    def __init__(self, key_header: str = "Idempotency-Key") -> None:
        self.key_header = key_header
        self._script = _Script()
        self._deliveries: dict[str, list[Delivery]] = defaultdict(list)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._server = QuietHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/deltaone"

    def fail_first(self, key: str, count: int, status: int = 503) -> None:
        """Answer `status` to the first `count` deliveries with this key (ALWAYS: to all)."""
        with self._lock:
            self._script.failures[key] = count
            self._script.status = status

    def deliveries(self, key: str) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries.get(key, []))

    def all(self) -> list[Delivery]:
        """Every delivery, in arrival order."""
        with self._lock:
            everything = [d for each in self._deliveries.values() for d in each]
        return sorted(everything, key=lambda d: d.arrived_seconds)

    def accepted(self, key: str) -> list[Delivery]:
        return [d for d in self.deliveries(key) if 200 <= d.answered < 300]

    def _answer_for(self, key: str) -> int:
        with self._lock:
            remaining = self._script.failures.get(key, 0)
            if remaining == 0:
                return 200
            if remaining > 0:
                self._script.failures[key] = remaining - 1
            return self._script.status

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries[delivery.key].append(delivery)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode(errors="replace")}
                key = self.headers.get(receiver.key_header, "")
                status = receiver._answer_for(key)
                receiver._record(Delivery(
                    path=self.path,
                    key=key,
                    headers=dict(self.headers.items()),
                    body=body,
                    answered=status,
                    arrived_seconds=round(time.monotonic() - receiver._started, 4),
                ))
                answer = json.dumps({"received": status < 300}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_PUT = do_DELETE = do_POST  # noqa: N815 - any method is recorded

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # deliveries are recorded, not printed

        return Handler

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def logs(self, lines: int = 40) -> str:
        return "\n".join(f"{d.answered} {d.path} {d.key}" for d in self.all()[-lines:])
