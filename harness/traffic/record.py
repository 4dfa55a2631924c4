"""`mlflow-upgrade-harness record`: a recording reverse proxy in front of the team's server.

Built on mitmproxy (the `record` extra): its reverse mode speaks HTTP/1.1 and HTTP/2, TLS on
either side, many connections at once and streamed bodies; this module is its addon. Every
MLflow request (`exchange.recorded`) and its answer become a JSON line, redacted before they
are written (`redaction.py`); artifact bodies, and bodies over `--max-body`, pass through
streamed while only their size and SHA-256 are kept. The recording ends after `--duration`
(or Ctrl-C / SIGTERM); past `--max-size` nothing more is written, while requests are still
forwarded until the end.

`record --import FILE` converts a HAR file or an access log (or re-redacts a recording)
instead, without a proxy.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import UsageError
from harness.traffic.exchange import (
    Body,
    Exchange,
    RotatingWriter,
    header,
    is_artifact,
    recorded,
)
from harness.traffic.importers import read_traffic
from harness.traffic.redaction import Redactor

INSTALL_HINT = ("record needs mitmproxy, the `record` extra: "
                "pip install 'mlflow-upgrade-harness[record]'")
REACH_TIMEOUT_S = 5.0
MB = 1 << 20
STREAM_BEYOND = "64m"
Say = Callable[[str], None]


@dataclass(frozen=True)
class RecordSettings:
    out: Path
    upstream: str = ""
    listen: tuple[str, int] = ("127.0.0.1", 0)
    duration_s: float = 86_400.0
    max_bytes: int = 1024 * MB
    rotate_bytes: int = 100 * MB
    max_body: int = MB
    redact_fields: tuple[str, ...] = ()
    proxy_options: tuple[str, ...] = ()  # mitmproxy `--set NAME=VALUE`, as given
    import_file: Path | None = None


class _Digest:
    """A streamed body: forwarded chunk by chunk, its size and SHA-256 kept."""

    def __init__(self) -> None:
        self.size, self.hash = 0, hashlib.sha256()

    def __call__(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        self.hash.update(chunk)
        return chunk

    def body(self, content_type: str) -> Body:
        return Body(content_type, size=self.size, sha256=self.hash.hexdigest())


def body_of(content: bytes | None, content_type: str, path: str, redactor: Redactor) -> Body:
    """A buffered body as a recording keeps it: JSON or text redacted; other bytes as digest."""
    if not content:
        return Body(content_type)
    if is_artifact(path):
        return Body(content_type, size=len(content), sha256=hashlib.sha256(content).hexdigest())
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return Body(content_type, size=len(content), sha256=hashlib.sha256(content).hexdigest())
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            return Body(content_type, redactor.json(json.loads(text)), is_json=True)
        except ValueError:
            pass
    if "x-www-form-urlencoded" in content_type:
        return Body(content_type, text=redactor.query(text))
    return Body(content_type, text=redactor.text(text))


class Recorder:
    """The mitmproxy addon (hooks by name; flows are mitmproxy's `HTTPFlow`)."""

    def __init__(self, writer: RotatingWriter, redactor: Redactor, max_body: int,
                 say: Say) -> None:
        self.writer, self.redactor, self.max_body, self.say = writer, redactor, max_body, say
        self.started = time.time()
        self.full = False
        self.dropped = 0

    def _stream(self, message: Any, path: str, key: str, flow: Any) -> None:
        length = message.headers.get("content-length")
        large = length is not None and length.isdigit() and int(length) > self.max_body
        if is_artifact(path) or large:
            digest = _Digest()
            message.stream = digest
            flow.metadata[key] = digest

    def requestheaders(self, flow: Any) -> None:
        path = urlsplit(flow.request.path).path
        if recorded(path):
            self._stream(flow.request, path, "muh_request", flow)

    def responseheaders(self, flow: Any) -> None:
        path = urlsplit(flow.request.path).path
        if recorded(path):
            self._stream(flow.response, path, "muh_response", flow)

    def _body(self, message: Any, path: str, key: str, flow: Any) -> Body:
        content_type = message.headers.get("content-type", "")
        digest = flow.metadata.get(key)
        if digest is not None:
            return digest.body(content_type)  # type: ignore[no-any-return]
        return body_of(message.raw_content and message.get_content(strict=False),
                       content_type, path, self.redactor)

    def response(self, flow: Any) -> None:
        url = urlsplit(flow.request.path)
        if not recorded(url.path) or self.full:
            return
        request, response = flow.request, flow.response
        self.redactor.begin()
        exchange = Exchange(
            self.writer.count + 1, request.method, url.path, self.redactor.query(url.query),
            self._body(request, url.path, "muh_request", flow), response.status_code,
            self._body(response, url.path, "muh_response", flow),
            ((response.timestamp_end or time.time()) - request.timestamp_start) * 1000,
            request.timestamp_start - self.started)
        if not self.writer.write(exchange.to_dict()):
            self.full = True
            self.say(f"the recording reached --max-size ({self.writer.written // MB} MB): "
                     "nothing more is written; requests are still forwarded")

    def error(self, flow: Any) -> None:
        self.dropped += 1  # no answer from upstream: the client saw mitmproxy's 502


def check_upstream(url: str) -> None:
    """One line and exit 2 unless `url` answers HTTP (any status counts)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--upstream {url!r}: give the server's URL, http(s)://HOST[:PORT]")
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=REACH_TIMEOUT_S):
            pass
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise UsageError(f"--upstream {url}: cannot reach it ({reason})") from None


def check_listen(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UsageError(f"--listen {host}:{port}: cannot listen there "
                             f"({error.strerror or error})") from None


def _writer(settings: RecordSettings, upstream: str) -> RotatingWriter:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return RotatingWriter(settings.out, header(upstream, started, list(settings.redact_fields)),
                          settings.rotate_bytes, settings.max_bytes)


def import_traffic(settings: RecordSettings, say: Say) -> int:
    """`record --import FILE`: a HAR file, access log or recording as a (redacted) recording."""
    assert settings.import_file is not None
    redactor = Redactor(settings.redact_fields)
    writer = _writer(settings, f"imported from {settings.import_file.name}")
    try:
        for exchange in read_traffic(settings.import_file, redactor):
            if not writer.write(redact_exchange(exchange, redactor).to_dict()):
                say(f"stopped at --max-size ({writer.written // MB} MB)")
                break
    finally:
        writer.close()
    say(f"imported {writer.count} requests into {len(writer.files)} file(s): {settings.out}")
    return 0


def redact_exchange(exchange: Exchange, redactor: Redactor) -> Exchange:
    def again(body: Body | None) -> Body | None:
        if body is None or not (body.is_json or body.text is not None):
            return body
        return Body(body.content_type, redactor.json(body.json), is_json=True) if body.is_json \
            else Body(body.content_type, text=redactor.text(body.text or ""))
    redactor.begin()
    request = again(exchange.request)
    assert request is not None
    return Exchange(exchange.seq, exchange.method, exchange.path,
                    redactor.query(exchange.query), request, exchange.status,
                    again(exchange.response), exchange.ms, exchange.at)


def record(settings: RecordSettings, say: Say) -> int:
    """Run the recording proxy until --duration, Ctrl-C or SIGTERM; 0, or 130 when stopped."""
    try:
        from mitmproxy import options
        from mitmproxy.tools.dump import DumpMaster
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    check_upstream(settings.upstream)
    host, port = settings.listen
    check_listen(host, port)
    writer = _writer(settings, settings.upstream)
    recorder = Recorder(writer, Redactor(settings.redact_fields), settings.max_body, say)
    stopped: list[str] = []

    async def serve() -> None:
        opts = options.Options(listen_host=host, listen_port=port,
                               mode=[f"reverse:{settings.upstream}"])
        master: Any = DumpMaster(opts, with_termlog=False, with_dumper=False)
        # Bodies past STREAM_BEYOND (no length announced) pass through unrecorded, never held.
        master.options.update(stream_large_bodies=STREAM_BEYOND)
        for item in settings.proxy_options:
            name, _, value = item.partition("=")
            master.options.set(f"{name}={value}")
        master.addons.add(recorder)
        loop = asyncio.get_running_loop()

        def interrupted() -> None:
            stopped.append("signal")
            master.shutdown()

        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, interrupted)
        loop.call_later(settings.duration_s, master.shutdown)
        say(f"recording {settings.upstream} on {host}:{port} into {settings.out} "
            f"for up to {settings.duration_s:.0f}s (Ctrl-C ends it)")
        await master.run()

    try:
        asyncio.run(serve())
    finally:
        writer.close()
    say(f"recorded {writer.count} requests ({writer.written / MB:.1f} MB) in "
        f"{len(writer.files)} file(s): {', '.join(str(f) for f in writer.files)}"
        + (f"; {recorder.dropped} without an answer from upstream" if recorder.dropped else ""))
    return 130 if stopped else 0
