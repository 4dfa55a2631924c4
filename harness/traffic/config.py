"""`run --replay`'s configuration, checked before anything starts (bad input: one line, exit 2),
and `record`'s settings from its options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.traffic.exchange import route_of
from harness.traffic.importers import ACCESS_LOG, HAR, access_line, kind_of, read_har
from harness.traffic.record import MB, RecordSettings
from harness.traffic.redaction import Redactor

SNIFFED_LINES = 1000  # an access log must have an nginx or ALB line among its first ones


@dataclass(frozen=True)
class TrafficConfig:
    files: tuple[Path, ...] = ()
    kinds: tuple[str, ...] = ()
    requests: int | None = None  # --replay-requests
    timeout_s: float = 3600.0
    faults: tuple[tuple[str, str], ...] = ()  # --inject-fault ROUTE=FIELD (the new server)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> TrafficConfig:
        files = tuple(_existing(raw) for raw in values.get("replay") or [])
        faults = tuple(_fault(raw) for raw in values.get("inject_fault") or [])
        if faults and not files:
            raise UsageError("--inject-fault plants a fault in the replay: give --replay FILE")
        requests = values.get("replay_requests")
        if requests is not None and requests < 1:
            raise UsageError("--replay-requests must be at least 1")
        timeout = values.get("replay_timeout") or 3600.0
        if not 10 <= timeout <= 7 * 86_400:
            raise UsageError("--replay-timeout must be between 10 seconds and 7 days")
        return cls(files, tuple(_checked_kind(path) for path in files), requests, timeout,
                   faults)


def _existing(raw: str, option: str = "--replay") -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"{option} {raw}: no such file")
    return path


def _checked_kind(path: Path) -> str:
    """The source's kind, once it is known to be readable as one."""
    kind = kind_of(path)
    if kind == HAR:
        next(iter(read_har(path, Redactor())), None)  # raises UsageError unless HAR
    if kind == ACCESS_LOG:
        with path.open(encoding="utf-8", errors="replace") as handle:
            if not any(access_line(line) for line in islice(handle, SNIFFED_LINES)):
                raise UsageError(f"--replay {path}: not a recording (`record`), a HAR file or "
                                 "an nginx/ALB access log")
    return kind


def _fault(raw: str) -> tuple[str, str]:
    route, _, field = raw.partition("=")
    if not route.startswith("/") or not field:
        raise UsageError(f"--inject-fault {raw!r}: give ROUTE=FIELD, e.g. "
                         "/api/2.0/mlflow/runs/get=run.info.status")
    return route_of(route), field


def record_settings(values: Mapping[str, Any]) -> RecordSettings:
    """`record`'s options, checked: one line for anything wrong."""
    out = values.get("record_out")
    if not out:
        raise UsageError("record needs --out FILE (where the recording goes)")
    for name in ("max_size", "rotate_size", "max_body"):
        if values[name] < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if not 1 <= values["duration"] <= 31 * 86_400:
        raise UsageError("--duration must be between 1 second and 31 days")
    imported = values.get("import")
    common: dict[str, Any] = dict(
        out=Path(out).expanduser().resolve(), duration_s=float(values["duration"]),
        max_bytes=values["max_size"] * MB, rotate_bytes=values["rotate_size"] * MB,
        max_body=values["max_body"] * 1024, redact_fields=tuple(values["redact_field"]),
        proxy_options=tuple(values["proxy_set"]))
    if imported:
        return RecordSettings(import_file=_existing(imported, "--import"), **common)
    if not values.get("upstream"):
        raise UsageError("record needs --upstream URL (your MLflow server), or --import FILE")
    return RecordSettings(upstream=str(values["upstream"]).rstrip("/"),
                          listen=_listen(values.get("listen") or ""), **common)


def _listen(raw: str) -> tuple[str, int]:
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {raw!r}: give HOST:PORT, e.g. 0.0.0.0:5001")
    return host.strip("[]"), int(port)
