"""What each version does differently for an operation, in one line a team can check.

From what the rounds recorded (`http`: requests per call, routes, the client's own work) and
what the untimed probe counted (`probe`: the SQL statements each side's server ran for one
call), per operation and part:

- **requests**: a different count or different routes per call. On the server side one client
  version calls both servers, so a difference is the servers answering differently; on the
  client side it is the two client versions doing different things;
- **statements**: statements per call compared by shape (verb and tables), with the time they
  took in the database;
- **the client's own work**: the call's time minus its time inside HTTP.

`explained` is true when the requests differ, when the new side runs more statements for a
slower call, or when the client's own work or the database's time
grew by at least half the operation's extra time. Anything else that differs is said, and the
line ends with where the difference is not: on the client side, *same requests, similar own
work* is not a difference in what the client does; on the server side, the same requests and
no more statements leave the server's own work.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from harness.bench.statements import shape_deltas
from harness.bench.traffic import route_deltas

OLD, NEW = "old", "new"
PARTS = (("server_side", "server"), ("client_side", "client"))
OWN_MIN_S = 0.002  # a smaller difference in the client's own work is not one
DB_MIN_MS = 1.0  # nor one in the database's time
RATIO = 1.2  # two times differ when one is this many times the other
SHARE = 0.5  # of the operation's extra time, for a time difference to explain it
SHOWN = 3  # routes or statement shapes named in a line
EXPLAINED_VERDICTS = ("regression", "inconclusive", "improvement")  # not "unchanged"


class Grouped(Protocol):
    """A diagnosed cause (`diagnosis.Group`): its operations' labels and its evidence."""

    operations: list[str]
    evidence: dict[str, Any]


G = TypeVar("G", bound=Grouped)


def annotate(bench: dict[str, Any], new_version: str) -> None:
    """`explained`, `explanation` and `differences` on every operation that is not
    unchanged and has something recorded (requests or statements); the same result again
    when called twice."""
    old_version = str((bench.get("settings") or {}).get("fixed_client") or "the old version")
    for part, _ in PARTS:
        for op, item in ((bench.get(part) or {}).get("operations") or {}).items():
            if item.get("verdict") not in EXPLAINED_VERDICTS:
                continue
            found = what_differs(part, op, item, old_version, new_version)
            if found:
                item.update(found)


def what_differs(part: str, op: str, item: dict[str, Any], old: str, new: str
                 ) -> dict[str, Any]:
    """{explained, explanation, differences} for one operation; {} with nothing recorded."""
    http, probe = item.get("http") or {}, item.get("probe") or {}
    traffic = http if OLD in http and NEW in http else probe
    if not (OLD in traffic and NEW in traffic):
        return {}
    extra_s = float(item.get("new_median_s") or 0) - float(item.get("old_median_s") or 0)
    facts = [fact for fact in (_requests(part, traffic, old, new),
                               _statements(part, op, probe, new, extra_s),
                               _own_work(http, old, new, extra_s)) if fact]
    explained = any(fact["explains"] for fact in facts)
    text = "; ".join([fact["text"] for fact in facts if fact["differs"]]
                     + [fact["same"] for fact in facts if not fact["differs"]])
    if not explained:
        what = f"extra {extra_s * 1000:.1f} ms" if extra_s > 0 else "difference"
        counted = "statements" in probe.get(OLD, {})
        text += (f": not a difference in what the client does (the {what} is the server's or "
                 "noise)" if part == "client_side" else
                 f": the {what} is in the server's own work, not in its requests"
                 + (" or SQL" if counted else " (SQL statements not counted)"))
    return {"explained": explained, "explanation": text,
            "differences": {fact["key"]: fact["detail"] for fact in facts}}


def _requests(part: str, traffic: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    before = float(traffic[OLD].get("requests_per_call", traffic[OLD].get("requests", 0)))
    after = float(traffic[NEW].get("requests_per_call", traffic[NEW].get("requests", 0)))
    routes = route_deltas(traffic[OLD], traffic[NEW])
    differs = bool(routes) or abs(after - before) >= 0.5
    listed = _listed([f"{delta:+g} × {name}" for name, delta in routes.items()])
    if part == "client_side":
        who, source, where = f"the {new} client sends", "", f"where {old} sent {_n(before)}"
    else:  # one client version: the servers' answers make it send more, or other, requests
        who, source = f"{new} gets", f" from the same {old} client"
        where = f"where {old} got {_n(before)}"
    if abs(after - before) >= 0.5 or not routes:
        text = f"{who} {_requests_n(after)}{source} {where}" + (f" ({listed})" if listed
                                                               else "")
    else:
        text = f"{who} different requests{source} ({_n(after)} per call: {listed})"
    return {"key": "requests", "differs": differs, "explains": differs, "text": text,
            "same": f"same requests ({_n(before)} per call)",
            "detail": {OLD: before, NEW: after, "routes": routes}}


def _statements(part: str, op: str, probe: dict[str, Any], new: str, extra_s: float
                ) -> dict[str, Any]:
    if not all("statements" in probe.get(side, {}) for side in (OLD, NEW)):
        return {}
    old_side, new_side = probe[OLD], probe[NEW]
    before, after = int(old_side["statements"]), int(new_side["statements"])
    db = (float(old_side.get("db_ms", 0)), float(new_side.get("db_ms", 0)))
    shapes = shape_deltas(old_side.get("queries", []), new_side.get("queries", []))
    who = f"{new} runs" if part == "server_side" else f"with the {new} client, the server runs"
    counts = f"{after} vs {before}"
    if old_side.get("transactions") != new_side.get("transactions"):
        counts += (f", in {new_side.get('transactions')} transaction(s) vs "
                   f"{old_side.get('transactions')}")
    if after != before:
        text = (f"{who} {abs(after - before)} {'more' if after > before else 'fewer'} "
                f"statement(s) per {op} ({counts})")
    else:
        text = f"{who} different statements per {op} ({after} each)"
    if shapes:
        text += ": " + _listed([f"{delta:+d} × `{name}`" for name, delta in shapes.items()])
    slower_db = _differ(db[0] / 1000, db[1] / 1000, DB_MIN_MS / 1000)
    if slower_db:
        text = (text + "; " if shapes else f"the same {after} SQL statement(s), ") \
            + f"{db[1]:.1f} ms in the database vs {db[0]:.1f}"
    # More statements can explain a slower call (each is a round trip to the database and
    # the ORM's work); fewer, or others as many, cannot, unless the database's time grew by
    # half the extra time or more. A faster call is not explained by statements: the pool's
    # pre-ping one version leaves out does not make it faster.
    more = extra_s > 0 and after > before
    db_explains = slower_db and extra_s > 0 and (db[1] - db[0]) / 1000 >= SHARE * extra_s
    return {"key": "statements", "differs": bool(shapes) or slower_db,
            "explains": more or db_explains, "text": text,
            "same": f"same {before} SQL statement(s)" if before else "no SQL statements",
            "detail": {OLD: before, NEW: after, "shapes": shapes, "db_ms": list(db)}}


def _own_work(http: dict[str, Any], old: str, new: str, extra_s: float) -> dict[str, Any]:
    sides = (http.get(OLD) or {}, http.get(NEW) or {})
    if not all("own_median_s" in side for side in sides):
        return {}
    before, after = (float(side["own_median_s"]) for side in sides)
    differs = _differ(before, after, OWN_MIN_S)
    explains = differs and extra_s > 0 and after - before >= SHARE * extra_s
    return {"key": "own_work", "differs": differs, "explains": explains,
            "text": f"client's own work {after * 1000:.1f} ms with {new} vs "
                    f"{before * 1000:.1f} ms with {old}",
            "same": f"similar own work ({after * 1000:.1f} ms vs {before * 1000:.1f} ms)",
            "detail": {OLD: round(before * 1000, 3), NEW: round(after * 1000, 3)}}


def _differ(before: float, after: float, least: float) -> bool:
    """Two times differ: by `least` or more, and one `RATIO` times the other."""
    low, high = sorted((before, after))
    return high - low >= least and high >= RATIO * low


def _n(value: float) -> str:
    return f"{value:g}"


def _requests_n(value: float) -> str:
    return f"{_n(value)} request{'' if value == 1 else 's'}"


def _listed(items: list[str]) -> str:
    return ", ".join(items[:SHOWN]) + (f" and {len(items) - SHOWN} more"
                                       if len(items) > SHOWN else "")


def explain(groups: list[G], bench: dict[str, Any], new_version: str) -> list[G]:
    """`groups` (diagnosed causes) once every operation says what differs (`annotate`), each
    with `evidence.what_differs`: label → {explained, explanation} of its operations."""
    annotate(bench, new_version)
    parts = {label: part for part, label in PARTS}
    for group in groups:
        found = {}
        for label in group.operations:
            op, _, rest = label.rpartition(" (")
            item = ((bench.get(parts.get(rest.rstrip(")"), "")) or {}).get("operations")
                    or {}).get(op) or {}
            if "explanation" in item:
                found[label] = {"explained": item["explained"],
                                "explanation": item["explanation"]}
        if found:
            group.evidence["what_differs"] = found
    return groups
