"""Diffy-style comparison: every answer of A (old), B (old) and the new server, field by field,
with the noise learned from A against B.

Per route and field (a JSON leaf, list positions read as `[]`; `<status>` the status code,
`<body>` a body that is not JSON) the replay counts the requests where A and B differ (noise),
where A and B agree and the new server differs (`differs`), and where A and B differ and the
new server agrees with A (`agrees_new`, the mirror event). A field is reported:

- when it never differs between A and B, at this route nor under its name at any other route
  (the same entity field is in get, search and update answers, and in the lists of another
  entity: a registered model's `latest_versions[]` are model versions), on its first
  `differs`: so a timestamp two old servers happened to stamp in the same millisecond is still
  known for one;
- when it is noisy, only if the new server disagrees more often than B does beyond what chance
  allows: the exact one-sided sign test of `differs` against `agrees_new` (under no difference
  the two are equally likely), at p < ALPHA.

So timestamps, generated ids and the order of ties, which differ between the two old servers,
are learned as noise and not reported, and nothing is hand-listed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from math import comb
from typing import Any

from harness.results.normalize import flatten
from harness.traffic.exchange import Exchange
from harness.traffic.transport import Answer

ALPHA = 0.001
EXAMPLES = 3
FIELDS_PER_ROUTE = 2000  # distinct fields kept per route; more are counted, not compared
SHOWN = 200  # characters of an example's request body or value
STATUS, BODY, ABSENT = "<status>", "<body>", "<absent>"
_INDEX = re.compile(r"\[\d+\]")


def observe(answer: Answer, body: Any) -> dict[str, Any]:
    """An answer as fields: its status, and its body's leaves (`body`: ids mapped back)."""
    if answer.error:
        return {STATUS: "no answer"}
    fields: dict[str, Any] = {STATUS: answer.status}
    if answer.is_json:
        fields.update(leaves(body) if isinstance(body, (dict, list)) else {BODY: body})
    elif answer.text is not None:
        fields[BODY] = answer.text
    elif answer.size:
        fields[BODY] = f"{answer.size} bytes, sha256 {answer.sha256[:16]}"
    return fields


def _keyed(items: list[Any]) -> list[str] | None:
    """The `key` of each element of a list of MLflow key/value entities (params, metrics,
    tags) when every element has a distinct one: such lists are compared by key, not by
    position, so their order is no difference and noise is learned per key."""
    keys = [item.get("key") if isinstance(item, dict) else None for item in items]
    if not keys or not all(isinstance(k, str) for k in keys) or len(set(keys)) < len(keys):
        return None
    return [str(k) for k in keys]


def leaves(value: Any) -> dict[str, Any]:
    """`{"a": {"b": [1]}}` → `{"a.b[0]": 1}`, key/value lists as `tags[team].value`."""
    return flatten(value, "", _keyed)


def field_name(path: str) -> str:
    """The field a leaf belongs to: list positions as `[]` (`runs[].info.run_id`)."""
    return _INDEX.sub("[]", path) or BODY


_ENTITY = re.compile(r"^[^.\[]+(\[\])?\.")


def short_name(field_path: str) -> str:
    """A field within its entity (`runs[].info.start_time` and `run.info.start_time` →
    `info.start_time`): the same entity field is in get, search and update answers, so noise
    learned at one route makes it noisy at the others."""
    return _ENTITY.sub("", field_path, count=1)


def entity_names(field_path: str) -> set[str]:
    """Every name a field has as an entity's field: its `short_name`, and within an entity
    listed inside another one (`registered_model.latest_versions[].creation_timestamp` is a
    model version's `creation_timestamp`, as in `model_version.creation_timestamp`)."""
    names = {short_name(field_path)}
    if "[]." in field_path:
        names.add(field_path.rsplit("[].", 1)[1])
    return names


def _short(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return value if len(text) <= SHOWN else text[:SHOWN] + "…"


@dataclass
class FieldStats:
    seen: int = 0
    noise: int = 0  # A ≠ B
    differs: int = 0  # A = B ≠ new
    agrees_new: int = 0  # A ≠ B, new = A
    examples: list[dict[str, Any]] = field(default_factory=list)


def sign_test(differs: int, mirror: int) -> float:
    """P(X ≥ differs) for X ~ Binomial(differs + mirror, 1/2): exact."""
    n = differs + mirror
    if differs == 0:
        return 1.0
    return float(sum(comb(n, k) for k in range(differs, n + 1)) / 2 ** n)


def example(exchange: Exchange, old: Any, new: Any) -> dict[str, Any]:
    body = exchange.request
    shown = json.dumps(body.json) if body.is_json else (body.text or "")
    return {"seq": exchange.seq,
            "request": f"{exchange.method} {exchange.path}"
                       + (f"?{exchange.query}" if exchange.query else ""),
            "body": _short(shown) if shown else "", "old": _short(old), "new": _short(new)}


class Comparison:
    """The running counts of a replay (bounded: per route and field, not per request)."""

    def __init__(self) -> None:
        self.stats: dict[tuple[str, str], FieldStats] = {}
        self.fields_per_route: Counter[str] = Counter()
        self.overflow: Counter[str] = Counter()
        self.failed_everywhere: Counter[tuple[str, str]] = Counter()  # (route, status/code)

    def add(self, exchange: Exchange, a: dict[str, Any], b: dict[str, Any],
            new: dict[str, Any]) -> None:
        route = exchange.route
        for path in a.keys() | b.keys() | new.keys():
            va, vb, vn = a.get(path, ABSENT), b.get(path, ABSENT), new.get(path, ABSENT)
            stats = self._stats(route, field_name(path))
            if stats is None:
                continue
            stats.seen += 1
            if va != vb:
                stats.noise += 1
                stats.agrees_new += va == vn
            elif va != vn:
                stats.differs += 1
                if len(stats.examples) < EXAMPLES:
                    stats.examples.append(example(exchange, va, vn))
        status = a.get(STATUS)
        if status == b.get(STATUS) == new.get(STATUS) and not (isinstance(status, int)
                                                              and status < 400):
            code = a.get("error_code", "") if a.get("error_code") == new.get("error_code") \
                else ""
            self.failed_everywhere[(route, f"{status} {code}".strip())] += 1

    def _stats(self, route: str, name: str) -> FieldStats | None:
        key = (route, name)
        found = self.stats.get(key)
        if found is None:
            if self.fields_per_route[route] >= FIELDS_PER_ROUTE:
                self.overflow[route] += 1
                return None
            self.fields_per_route[route] += 1
            found = self.stats[key] = FieldStats()
        return found

    def noisy_names(self) -> set[str]:
        return {entity for (_route, name), s in self.stats.items()
                if s.noise and not name.startswith("<")  # a status is its route's own
                for entity in entity_names(name)}

    def beyond_noise(self) -> list[tuple[str, str, FieldStats]]:
        """(route, field, counts) of every field the new server changed beyond the noise."""
        noisy = self.noisy_names()
        found = []
        for (route, name), stats in self.stats.items():
            if not stats.differs:
                continue
            if stats.noise or entity_names(name) & noisy:
                if sign_test(stats.differs, stats.agrees_new) >= ALPHA:
                    continue
            found.append((route, name, stats))
        return found

    def noise_fields(self) -> list[str]:
        """`route field` of every field learned as noise, for the report."""
        return sorted(f"{route} {name}" for (route, name), s in self.stats.items() if s.noise)
