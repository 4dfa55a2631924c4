"""Make observations from two servers comparable, then diff them field by field.

Ids, timestamps and server addresses differ between any two runs; they are replaced by stable
placeholders (the first id seen becomes <id1>, and so on) so that what remains is behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Labels = Callable[[list[Any]], "list[str] | None"]

_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")
_LOGGED_MODEL_ID = re.compile(r"\bm-[0-9a-f]{32}\b")
_LOOPBACK_URL = re.compile(r"https?://127\.0\.0\.1:\d+")
_TIME_KEY = re.compile(r"(^|_)(time|timestamp|ts|seconds)$|_at$|duration")
_ID_KEY = re.compile(r"(^|_)ids?$")


class _Ids:
    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def placeholder(self, value: str) -> str:
        if value not in self.seen:
            self.seen[value] = f"<id{len(self.seen) + 1}>"
        return self.seen[value]


def normalize(observations: Any) -> Any:
    """A copy of `observations` with ids, timestamps and loopback ports replaced."""
    return _walk(observations, _Ids(), key="")


def _walk(value: Any, ids: _Ids, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, ids, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, ids, key) for v in value]
    if _TIME_KEY.search(key) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return "<time>"
    if isinstance(value, str):
        if _ID_KEY.search(key) and value:
            return ids.placeholder(value)
        text = _LOOPBACK_URL.sub("<server>", value)
        text = _LOGGED_MODEL_ID.sub(lambda m: ids.placeholder(m.group(0)), text)
        return _HEX_ID.sub(lambda m: ids.placeholder(m.group(0)), text)
    return value


_MISSING = "<absent>"


def flatten(value: Any, prefix: str = "", labels: Labels | None = None) -> dict[str, Any]:
    """`{"a": {"b": [1]}}` → `{"a.b[0]": 1}`; empty containers are kept as leaves. `labels`
    may name a list's elements instead of their positions (None: positions)."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for k, v in value.items():
            flat.update(flatten(v, f"{prefix}.{k}" if prefix else str(k), labels))
        return flat
    if isinstance(value, list) and value:
        flat = {}
        names = (labels(value) if labels else None) or [str(i) for i in range(len(value))]
        for name, v in zip(names, value, strict=True):
            flat.update(flatten(v, f"{prefix}[{name}]", labels))
        return flat
    return {prefix: value}


def diff(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf that differs; `<absent>` marks a missing side."""
    flat_old, flat_new = flatten(normalize(old)), flatten(normalize(new))
    changes = []
    for path in sorted(set(flat_old) | set(flat_new)):
        a, b = flat_old.get(path, _MISSING), flat_new.get(path, _MISSING)
        if a != b:
            changes.append((path, a, b))
    return changes
