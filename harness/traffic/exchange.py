"""One recorded exchange (a request and the answer it got), the recording's JSON-lines format,
and its files: a first part `FILE` and rotated parts `FILE.2`, `FILE.3`, … each starting with
the header line.

A line per exchange::

    {"seq": 7, "at": 12.5, "method": "POST", "path": "/api/2.0/mlflow/runs/search",
     "query": "", "request": {"type": "application/json", "json": {...}},
     "status": 200, "response": {"type": "application/json", "json": {...}}, "ms": 8.1}

A body is `{"json": value}`, `{"text": "..."}` or, for artifact and binary bodies (and bodies
over the recorder's limit), `{"size": n, "sha256": "..."}` only; `{}` is no body. `status`,
`response` and `ms` are null when the source does not have them (an access log's bodies).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.errors import UsageError

FORMAT = "mlflow-upgrade-harness-traffic"
VERSION = 1
RECORDED_PREFIXES = ("/api/", "/ajax-api/", "/get-artifact", "/model-versions/get-artifact")
_ARTIFACT_FILES = re.compile(r"^(/api/2\.0/mlflow-artifacts/artifacts)/.+$")
_ID_SEGMENT = re.compile(r"^(?:(?:m-|tr-)?[0-9a-f]{32}|\d+)$")


def recorded(path: str) -> bool:
    """Whether a request to `path` belongs in a recording (MLflow's REST, its UI's ajax
    routes and artifact routes; the UI's static files and /health do not)."""
    return path.startswith(RECORDED_PREFIXES)


def route_of(path: str) -> str:
    """The route a path belongs to: `/ajax-api` read as `/api` (the same handlers), an
    artifact file's path as `…/artifacts/*`, and id segments (`/logged-models/m-…`) as `*`."""
    if path.startswith("/ajax-api/"):
        path = "/api/" + path[len("/ajax-api/"):]
    artifact = _ARTIFACT_FILES.match(path)
    if artifact:
        return artifact[1] + "/*"
    return "/".join("*" if _ID_SEGMENT.match(part) else part for part in path.split("/"))


def is_artifact(path: str) -> bool:
    """Routes whose bodies are artifact bytes: kept as size and digest only."""
    route = route_of(path)
    return route.endswith(("/mlflow-artifacts/artifacts/*", "/get-artifact"))


@dataclass(frozen=True)
class Body:
    """A request's or response's body as recorded."""

    content_type: str = ""
    json: Any = None
    text: str | None = None
    size: int | None = None  # with `sha256`: the body was kept as size + digest only
    sha256: str = ""
    is_json: bool = False  # (a JSON body may be `null`)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.content_type} if self.content_type else {}
        if self.is_json:
            data["json"] = self.json
        elif self.text is not None:
            data["text"] = self.text
        elif self.size is not None:
            data.update(size=self.size, sha256=self.sha256)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Body:
        data = data or {}
        return cls(str(data.get("type", "")), data.get("json"), data.get("text"),
                   data.get("size"), str(data.get("sha256", "")), "json" in data)

    @property
    def empty(self) -> bool:
        return not self.is_json and self.text is None and self.size is None


@dataclass(frozen=True)
class Exchange:
    seq: int
    method: str
    path: str
    query: str = ""
    request: Body = field(default_factory=Body)
    status: int | None = None
    response: Body | None = None
    ms: float | None = None
    at: float = 0.0

    @property
    def route(self) -> str:
        return route_of(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": round(self.at, 3), "method": self.method,
                "path": self.path, "query": self.query, "request": self.request.to_dict(),
                "status": self.status,
                "response": self.response.to_dict() if self.response is not None else None,
                "ms": None if self.ms is None else round(self.ms, 2)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        response = data.get("response")
        return cls(int(data["seq"]), str(data["method"]).upper(), str(data["path"]),
                   str(data.get("query") or ""), Body.from_dict(data.get("request")),
                   data.get("status"), Body.from_dict(response) if response is not None
                   else None, data.get("ms"), float(data.get("at") or 0.0))


def header(upstream: str, started_at: str, redacted: list[str]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "upstream": upstream,
            "started_at": started_at, "redacted_fields": redacted,
            "headers_kept": ["content-type"],
            "artifact_bodies": "size and sha256 only"}


def parts(first: Path) -> list[Path]:
    """A recording's files in order: FILE, FILE.2, FILE.3, … as long as they exist."""
    found = [first]
    while (candidate := first.with_name(f"{first.name}.{len(found) + 1}")).exists():
        found.append(candidate)
    return found


def is_recording(first_line: str) -> bool:
    try:
        data = json.loads(first_line)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def read_recording(first: Path) -> Iterator[Exchange]:
    """Every exchange of a recording and its rotated parts, one line at a time (a recording
    of any size is never held in memory)."""
    for path in parts(first):
        with path.open(encoding="utf-8") as handle:
            handle.readline()  # the part's header
            for number, line in enumerate(handle, start=2):
                if not line.strip():
                    continue
                try:
                    yield Exchange.from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError) as error:
                    raise UsageError(f"{path}:{number}: not a recorded exchange "
                                     f"({type(error).__name__}: {error})") from None


class RotatingWriter:
    """Writes exchanges to FILE, then FILE.2, … each part at most `rotate_bytes` (one line
    may overrun it), all parts at most `max_bytes`: past that, `write` refuses (False)."""

    def __init__(self, first: Path, head: dict[str, Any], rotate_bytes: int,
                 max_bytes: int) -> None:
        self.first, self.head = first, head
        self.rotate_bytes, self.max_bytes = rotate_bytes, max_bytes
        self.files: list[Path] = []
        self.written = 0  # bytes in every part
        self.count = 0
        self._part_bytes = 0
        self._handle: IO[str] | None = None
        self._open()

    def _open(self) -> None:
        if self._handle is not None:
            self._handle.close()
        number = len(self.files) + 1
        path = self.first if number == 1 else self.first.with_name(f"{self.first.name}.{number}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("w", encoding="utf-8")
        self.files.append(path)
        self._part_bytes = 0
        self._line(json.dumps(self.head))

    def _line(self, text: str) -> None:
        assert self._handle is not None
        data = text + "\n"
        self._handle.write(data)
        self._handle.flush()  # a recording cut short (kill -9) keeps every whole line
        size = len(data.encode())
        self._part_bytes += size
        self.written += size

    def write(self, exchange: dict[str, Any]) -> bool:
        text = json.dumps(exchange, separators=(",", ":"))
        size = len(text.encode()) + 1
        rotate = self.count > 0 and self._part_bytes + size > self.rotate_bytes
        if self.written + size + (len(json.dumps(self.head)) + 1 if rotate else 0) \
                > self.max_bytes:
            return False
        if rotate:
            self._open()
        self._line(text)
        self.count += 1
        return True

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
