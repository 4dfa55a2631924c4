"""Traffic from elsewhere, as exchanges: a HAR file (a browser's or mitmproxy's export) and an
nginx or AWS ALB access log. Both are redacted as a recording is (`redaction.py`).

A HAR file has what a recording has, bodies included (one JSON document: it is read whole).
An access log has the method, path, query, status and time of each request, and lacks the rest,
said as `ACCESS_LOG_LACKS`. Access logs are read a line at a time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import UsageError
from harness.traffic.exchange import Body, Exchange, is_artifact, is_recording, read_recording
from harness.traffic.exchange import recorded as is_recorded
from harness.traffic.redaction import Redactor

RECORDING, HAR, ACCESS_LOG = "recording", "har", "access log"
ACCESS_LOG_LACKS = (
    "an access log has no request or response bodies and no headers: GET requests replay "
    "(their parameters are in the query), POST/PATCH/PUT requests (MLflow's searches and "
    "every write) are counted and skipped, and no id a write creates can be mapped")
_NGINX = re.compile(
    r'^\S+ \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<target>\S+)[^"]*" '
    r'(?P<status>\d{3}) \S+(?: "[^"]*" "[^"]*")?(?: (?P<seconds>\d+(?:\.\d+)?))?')
_ALB = re.compile(
    r'^\S+ (?P<time>\S+) \S+ \S+ \S+ (?P<t1>-?[\d.]+) (?P<t2>-?[\d.]+) (?P<t3>-?[\d.]+) '
    r'(?P<status>\d{3}|-) \S+ \d+ \d+ "(?P<method>[A-Z]+) (?P<target>\S+)[^"]*"')


def kind_of(path: Path) -> str:
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
        start = first.lstrip()[:1]
    if is_recording(first):
        return RECORDING
    if start in ("{", "["):
        return HAR
    return ACCESS_LOG


def read_traffic(path: Path, redactor: Redactor | None = None) -> Iterator[Exchange]:
    """The exchanges of a recording, a HAR file or an access log (detected by content)."""
    kind = kind_of(path)
    if kind == RECORDING:
        return read_recording(path)
    if kind == HAR:
        return read_har(path, redactor or Redactor())
    return read_access_log(path)


def _body(text: str | None, mime: str, path: str, redactor: Redactor,
          encoding: str = "") -> Body:
    if text is None or text == "":
        return Body(mime)
    if is_artifact(path) or encoding == "base64":
        raw = base64.b64decode(text) if encoding == "base64" else text.encode()
        return Body(mime, size=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    if "json" in mime:
        try:
            return Body(mime, redactor.json(json.loads(text)), is_json=True)
        except ValueError:
            pass
    return Body(mime, text=redactor.text(text))


def _seconds(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _har_entry(seq: int, entry: dict[str, Any], start: float,
               redactor: Redactor) -> Exchange | None:
    request, response = entry.get("request", {}), entry.get("response", {})
    url = urlsplit(str(request.get("url", "")))
    if not is_recorded(url.path):
        return None
    post = request.get("postData") or {}
    content = response.get("content") or {}
    status = int(response.get("status") or 0)
    redactor.begin()
    return Exchange(
        seq, str(request.get("method", "GET")).upper(), url.path, redactor.query(url.query),
        _body(post.get("text"), str(post.get("mimeType", "")), url.path, redactor),
        status or None,
        _body(content.get("text"), str(content.get("mimeType", "")), url.path, redactor,
              str(content.get("encoding", ""))) if status else None,
        float(entry["time"]) if isinstance(entry.get("time"), (int, float)) else None,
        max(_seconds(str(entry.get("startedDateTime", ""))) - start, 0.0))


def read_har(path: Path, redactor: Redactor) -> Iterator[Exchange]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["log"]["entries"]
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path}: not a recording (`record`), a HAR file or an access log "
                         f"(read as HAR: {type(error).__name__}: {error})") from None
    start = min((_seconds(str(e.get("startedDateTime", ""))) for e in entries), default=0.0)
    seq = 0
    for entry in entries:
        exchange = _har_entry(seq + 1, entry, start, redactor)
        if exchange is not None:
            seq += 1
            yield exchange


def access_line(line: str) -> tuple[str, str, int | None, float | None] | None:
    """(method, target, status, milliseconds) of an nginx or ALB log line."""
    found = _ALB.match(line)
    if found:
        times = [float(found[name]) for name in ("t1", "t2", "t3")]
        ms = sum(times) * 1000 if min(times) >= 0 else None
        status = int(found["status"]) if found["status"] != "-" else None
        return found["method"], found["target"], status, ms
    found = _NGINX.match(line)
    if found:
        seconds = found["seconds"]
        return (found["method"], found["target"], int(found["status"]),
                float(seconds) * 1000 if seconds else None)
    return None


def read_access_log(path: Path) -> Iterator[Exchange]:
    redactor = Redactor()
    seq = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parsed = access_line(line)
            if parsed is None:
                continue
            method, target, status, ms = parsed
            url = urlsplit(target)
            if not is_recorded(url.path):
                continue
            seq += 1
            yield Exchange(seq, method, url.path, redactor.query(url.query), Body(),
                           status, None, ms)
