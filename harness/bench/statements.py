"""SQL statements a server issued for one call, from two snapshots of `pg_stat_statements`.

A snapshot is one side's database's rows (`queryid` → normalized text, calls, total execution
milliseconds); the statements that ran between two snapshots are the rows whose calls grew
(`ran_between`). Statements are compared between versions by their *shape* (`shape`: the
verb and the tables, e.g. `SELECT … FROM runs JOIN tags`), since the same query differs in
aliases and column lists from one SQLAlchemy to the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

TEXT = 300  # characters of a statement's normalized text kept in results.json
_SPACE = re.compile(r"\s+")
_NAME = r'(?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?'
_TABLE = re.compile(rf"\b(?:FROM|JOIN)\s+(?:ONLY\s+)?({_NAME})", re.IGNORECASE)
# The check a foreign key makes on an INSERT or UPDATE (a nested statement: track = all).
_KEY_CHECK = re.compile(rf"^SELECT .* FROM ONLY ({_NAME}) \S+ WHERE .* FOR (?:KEY )?SHARE OF",
                        re.IGNORECASE)
# What every transaction of SQLAlchemy over psycopg2 has: listed after the statements that
# say what a version does differently.
ROUTINE = ("BEGIN", "COMMIT", "ROLLBACK", "SELECT $1", "SAVEPOINT", "RELEASE SAVEPOINT")
_VERB_TABLE = {"INSERT": re.compile(r"^INSERT\s+INTO\s+(\S+)", re.IGNORECASE),
               "UPDATE": re.compile(r"^UPDATE\s+(?:ONLY\s+)?(\S+)", re.IGNORECASE),
               "DELETE": re.compile(r"^DELETE\s+FROM\s+(?:ONLY\s+)?(\S+)", re.IGNORECASE)}
_WORDS = {"SET": 2, "SHOW": 2, "RELEASE": 2, "SAVEPOINT": 1, "ROLLBACK": 1, "BEGIN": 1,
          "COMMIT": 1, "START": 2}


class Row(NamedTuple):
    """One `pg_stat_statements` row: normalized text, calls, total execution milliseconds."""

    query: str
    calls: int
    total_ms: float


Snapshot = dict[Any, Row]  # by (queryid, userid, toplevel) or any key stable between reads


def ran_between(before: Snapshot, after: Snapshot) -> list[dict[str, Any]]:
    """The statements that ran between two snapshots: `query` (normalized, cut to TEXT),
    `shape`, `calls` and `ms` (total execution time), most calls first."""
    found: dict[str, dict[str, Any]] = {}
    for key, row in after.items():
        earlier = before.get(key)
        calls = row.calls - (earlier.calls if earlier else 0)
        if calls <= 0:
            continue
        text = _SPACE.sub(" ", row.query).strip()
        entry = found.setdefault(text, {"query": text[:TEXT], "shape": shape(text),
                                        "calls": 0, "ms": 0.0})
        entry["calls"] += calls
        entry["ms"] = round(entry["ms"] + row.total_ms - (earlier.total_ms if earlier else 0), 3)
    return sorted(found.values(), key=lambda e: (-e["calls"], e["query"]))


def steady(calls: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The statements every one of several calls ran (`ran_between` lists): per statement the
    fewest calls and the least time of any call; a statement some call did not run is left
    out."""
    if not calls:
        return []
    found = []
    for first in calls[0]:
        same = [next((s for s in statements if s["query"] == first["query"]), None)
                for statements in calls[1:]]
        if all(same):
            found.append({**first, "calls": min([first["calls"], *(s["calls"] for s in same
                                                                    if s)]),
                          "ms": min([first["ms"], *(s["ms"] for s in same if s)])})
    return sorted(found, key=lambda e: (-e["calls"], e["query"]))


def shape(query: str) -> str:
    """`SELECT … FROM runs JOIN tags, params`, `INSERT INTO runs`, `UPDATE model_versions`,
    `BEGIN`, `SET search_path`: what a statement does, without its columns and aliases."""
    text = _SPACE.sub(" ", query).strip().rstrip(";")
    words = text.split(" ")
    verb = words[0].upper() if words and words[0] else ""
    if verb in _VERB_TABLE:
        match = _VERB_TABLE[verb].match(text)
        lead = {"INSERT": "INSERT INTO", "DELETE": "DELETE FROM"}.get(verb, verb)
        return f"{lead} {_unquote(match.group(1)) if match else '?'}"
    if verb in ("SELECT", "WITH", "VALUES"):
        key = _KEY_CHECK.match(text)
        if key:
            return f"key check on {_unquote(key.group(1))}"
        tables = list(dict.fromkeys(_unquote(t) for t in _TABLE.findall(text)))
        if not tables:
            return text[:40]
        others = sorted(set(tables[1:]) - {tables[0]})
        joined = f" JOIN {', '.join(others[:3])}{', …' if len(others) > 3 else ''}" \
            if others else ""
        return f"SELECT … FROM {tables[0]}{joined}"
    if not verb:
        return "?"
    lead = " ".join([verb, *words[1:_WORDS.get(verb, 1)]])
    return lead.upper() if verb in ("RELEASE", "START") else lead  # SET keeps its name


def _unquote(name: str) -> str:
    """`"public"."runs"` → `runs`: the schema every MLflow table is in is left out."""
    name = name.replace('"', "")
    return name.removeprefix("public.")


def shapes(statements: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Shape → calls, over one call's statements."""
    counts: dict[str, int] = {}
    for statement in statements:
        counts[statement["shape"]] = counts.get(statement["shape"], 0) + int(statement["calls"])
    return counts


def shape_deltas(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]
                 ) -> dict[str, int]:
    """Shape → new minus old calls, for the shapes whose count differs: the larger
    differences first, each transaction's routine statements (`ROUTINE`) last."""
    before, after = shapes(old), shapes(new)
    deltas = {name: after.get(name, 0) - before.get(name, 0) for name in set(before) | set(after)}
    return dict(sorted(((n, d) for n, d in deltas.items() if d),
                       key=lambda pair: (pair[0] in ROUTINE, -abs(pair[1]), -pair[1], pair[0])))


def summary(statements: list[dict[str, Any]]) -> dict[str, Any]:
    """`statements` (calls in all), `transactions` (BEGINs), `db_ms` (their execution time)
    and the statements."""
    return {"statements": sum(int(s["calls"]) for s in statements),
            "transactions": sum(int(s["calls"]) for s in statements if s["shape"] == "BEGIN"),
            "db_ms": round(sum(float(s["ms"]) for s in statements), 3),
            "queries": statements}
