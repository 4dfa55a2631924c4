"""One server as the replay talks to it: HTTP/1.1 on a kept-alive connection, every call
bounded, and an answer's body read in chunks (a large artifact becomes size and digest, never
a buffer)."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

CALL_TIMEOUT_S = 60.0
KEPT_BODY = 1 << 20  # JSON and text answers up to this size are parsed; larger: size + digest
CHUNK = 1 << 16


@dataclass(frozen=True)
class Answer:
    """What a server answered: status, body (parsed JSON, text, or size + digest)."""

    status: int
    seconds: float
    json: Any = None
    is_json: bool = False
    text: str | None = None
    size: int = 0
    sha256: str = ""
    error: str = ""  # no answer at all (connection refused, timeout)


class Target(Protocol):
    name: str

    def send(self, method: str, target: str, body: bytes | None,
             headers: dict[str, str]) -> Answer: ...

    def close(self) -> None: ...


class HttpTarget:
    """A server at 127.0.0.1:port (the replay's own servers only)."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name, self.host, self.port = name, host, port
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port,
                                                          timeout=CALL_TIMEOUT_S)
        return self._connection

    def send(self, method: str, target: str, body: bytes | None,
             headers: dict[str, str]) -> Answer:
        began = time.perf_counter()
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more, anew
            try:
                connection = self._connect()
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                return read_answer(response, began)
            except (ConnectionError, http.client.HTTPException, OSError) as error:
                self.close()
                if attempt == 2 or isinstance(error, TimeoutError):
                    return Answer(0, time.perf_counter() - began,
                                  error=f"{type(error).__name__}: {error}"[:200])
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def read_answer(response: http.client.HTTPResponse, began: float) -> Answer:
    """The answer's body in chunks: parsed when JSON or text and small, else size + digest."""
    content_type = (response.getheader("Content-Type") or "").lower()
    digest, size, kept = hashlib.sha256(), 0, bytearray()
    while chunk := response.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if size <= KEPT_BODY:
            kept += chunk
    seconds = time.perf_counter() - began
    readable = size <= KEPT_BODY and ("json" in content_type or content_type.startswith("text"))
    if readable and "json" in content_type:
        try:
            return Answer(response.status, seconds, json.loads(kept), True, size=size)
        except ValueError:
            pass
    if readable:
        return Answer(response.status, seconds, text=kept.decode("utf-8", "replace"), size=size)
    return Answer(response.status, seconds, size=size, sha256=digest.hexdigest())
