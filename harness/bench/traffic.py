"""What each timed call sent over HTTP, summarized per operation and side.

The client code records, for every timed call, the requests the MLflow client sent (count,
normalized routes, failures, seconds inside HTTP) and the client's own work: the call's time
minus its HTTP time (`scenarios/clients/_http_log.py`). Per operation and side this becomes
`http`: requests per call, each route's requests per call, and the medians of HTTP time and of
the client's own work. On the server side one client version calls both servers, so a
different count there is the servers answering differently (a redirect, more pages); on the
client side it is the two client versions doing different things.
"""

from __future__ import annotations

from statistics import median
from typing import Any

ROUND = 2  # decimals of a per-call mean


def summarize(sides: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """{side: summary} from each side's per-call records (`side_summary`)."""
    return {side: side_summary(records) for side, records in sides.items() if records}


def side_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """`calls`, `requests_per_call` (mean; `requests_range` [min, max] when calls differ),
    `routes` (route → requests per call), `http_median_s`, `own_median_s` (the client's own
    work per call), and `failed` / `other_hosts` (totals) when there were any."""
    calls = len(records)
    counts = [int(r.get("requests", 0)) for r in records]
    routes: dict[str, float] = {}
    for record in records:
        for name, count in (record.get("routes") or {}).items():
            routes[name] = routes.get(name, 0) + count
    summary: dict[str, Any] = {
        "calls": calls,
        "requests_per_call": round(sum(counts) / calls, ROUND),
        "routes": {name: round(total / calls, ROUND) for name, total in sorted(routes.items())},
        "http_median_s": round(median(float(r.get("http_s", 0)) for r in records), 6),
    }
    if min(counts) != max(counts):
        summary["requests_range"] = [min(counts), max(counts)]
    own = [float(r["own_s"]) for r in records if r.get("own_s") is not None]
    if own:
        summary["own_median_s"] = round(median(own), 6)
    failed: dict[str, int] = {}
    for record in records:
        for name, count in (record.get("failed") or {}).items():
            failed[name] = failed.get(name, 0) + int(count)
    if failed:
        summary["failed"] = failed
    other = sum(int(r.get("other_hosts", 0)) for r in records)
    if other:
        summary["other_hosts"] = other
    return summary


def route_deltas(old: dict[str, Any], new: dict[str, Any], least: float = 0.5
                 ) -> dict[str, float]:
    """Route → new minus old requests per call, for routes whose count differs by `least` or
    more (a route only one side uses counts as 0 on the other)."""
    before, after = old.get("routes") or {}, new.get("routes") or {}
    deltas = {name: round(float(after.get(name, 0)) - float(before.get(name, 0)), ROUND)
              for name in sorted(set(before) | set(after))}
    return {name: delta for name, delta in deltas.items() if abs(delta) >= least}
