"""Values a team's code got from MLflow, followed through each version's types: a `read` use
(`run.info.run_uuid` where `run = client.get_run(…)`) is walked step by step on both surfaces
(the call's return type, a property's type, a container's item type) to the attributes it
reads. An attribute the old version has and the new one's class does not is a removal named at
the line that reads it; where the catalog says the value's shape changed (`value = true`: a
model version's `source`, a logged model's URI), a line that parses or compares it (a string
method, an index, a comparison) is a "behaviour changed: check" pointer.

A step neither surface can type (no annotation, no class named in the docstring's returns
section, a container of several types) ends the walk: nothing past it is judged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from harness.scan.bindings import CALL, COMPARED, ITEM
from harness.scan.catalog import ApiEntry
from harness.scan.changes import BEHAVIOUR, DEPRECATED, REMOVED, Change, declared
from harness.scan.surface import ApiObject, Surface
from harness.scan.uses import Use


@dataclass(frozen=True)
class Hop:
    """One attribute read on a typed value: `owner` is the class, `found` the member."""

    index: int  # position of the attribute in the use's steps
    owner: str
    name: str
    found: tuple[str, ApiObject] | None
    judged: bool  # False for an instance's own member: the scan judges it by path already


def _outer(kind: str) -> str:
    return kind.partition("[")[0]


def _item(kind: str | None) -> str | None:
    if not kind or "[" not in kind:
        return None
    return kind.partition("[")[2].removesuffix("]") or None


def _gives(surface: Surface, other: Surface, path: str) -> str | None:
    """The type a function (called) or attribute (read) gives; the other version's annotation
    when this one has none but knows the type."""
    found = surface.resolve(path)
    if found is None:
        return None
    if found[1].kind == "class":
        return found[0]
    if found[1].returns:
        return found[1].returns
    there = other.resolve(path)
    kind = there[1].returns if there is not None else None
    return kind if kind and surface.resolve(_outer(kind)) is not None else None


def walk(surface: Surface, use: Use, other: Surface) -> list[Hop]:
    """The attributes `use` reads, as `surface` types them, until a step it cannot type."""
    root = surface.resolve(use.api)
    if root is None or root[1].kind not in ("class", "function"):
        return []
    callable_path: str | None = root[0]
    kind: str | None = None
    first = root[1].kind == "class"  # an instance's own members are judged by path
    hops: list[Hop] = []
    for index, step in enumerate(use.steps):
        if step == CALL:
            kind = _gives(surface, other, callable_path) if callable_path else None
            callable_path = None
        elif step == ITEM:
            kind, callable_path = _item(kind), None
        elif step == COMPARED or kind is None:
            break
        else:
            owner = surface.resolve(_outer(kind))
            if owner is None or owner[1].kind != "class":
                break
            member = surface.resolve(f"{owner[0]}.{step}")
            hops.append(Hop(index, owner[0], step, member, not first))
            first = False
            if member is None:
                break
            if member[1].kind in ("function", "class"):
                kind, callable_path = None, member[0]
                continue
            kind = _gives(surface, other, member[0]) if member[1].kind == "attribute" else None
        if kind is None and callable_path is None:
            break
    return hops


def spelled(use: Use, upto: int) -> str:
    """The read as a path: `mlflow.MlflowClient.get_run(…).info.run_uuid`."""
    steps = use.steps[:upto + 1]
    if steps[:1] == (CALL,) and (use.api.rpartition(".")[2][:1].isupper()):
        steps = steps[1:]  # an instance: its methods are named by the class's path
    text = use.api
    for step in steps:
        text += "(…)" if step == CALL else "[…]" if step == ITEM else "" if step == COMPARED \
            else f".{step}"
    return text


def _source(use: Use) -> str:
    if use.origin and use.origin_api:
        return f"read on what {use.origin_api} returned at line {use.origin}"
    return f"read on a value annotated {use.api}"


def _removal(use: Use, hop: Hop, was: ApiObject, new: Surface, old: Surface) -> Change:
    note = f"; {declared(was.deprecated, old.version)}" if was.deprecated else ""
    short = hop.owner.rpartition(".")[2]
    return Change(f"{hop.owner}.{hop.name}", REMOVED,
                  f"attribute {short}.{hop.name} removed in {new.version}{note}"
                  f" ({_source(use)})")


Found = tuple[Change, str, tuple[object, ...], ApiEntry | None]


def value_changes(use: Use, old: Surface, new: Surface,
                  entries: Sequence[ApiEntry] = ()) -> Iterator[Found]:
    """(change, API as spelled, key, catalog entry) for what a read meets in the new version:
    removed or newly deprecated attributes, and parsed values whose shape changed."""
    was, now = walk(old, use, new), walk(new, use, old)
    there = {hop.index: hop for hop in now}
    for hop in was:
        after = there.get(hop.index)
        if hop.found is None or after is None:
            break
        if not hop.judged:
            continue
        if after.found is None:
            if new.closed(after.owner):
                change = _removal(use, hop, hop.found[1], new, old)
                yield change, spelled(use, hop.index), (use.file, use.line, change.api), None
            break
        if after.found[1].deprecated and not hop.found[1].deprecated:
            change = Change(after.found[0], DEPRECATED,
                            declared(after.found[1].deprecated, new.version))
            yield change, spelled(use, hop.index), (use.file, use.line, change.api), None
    yield from _checks(use, was + now, old, new, entries)


def _checks(use: Use, hops: list[Hop], old: Surface, new: Surface,
            entries: Sequence[ApiEntry]) -> Iterator[Found]:
    seen: set[str] = set()
    for hop in hops:
        rest = use.steps[hop.index + 1:]
        if hop.found is None or not rest:
            continue
        for entry in entries:
            if not entry.value or entry.id in seen or not entry.crosses(old.version,
                                                                       new.version):
                continue
            if entry.names(f"{hop.owner}.{hop.name}", hop.found[0], old):
                seen.add(entry.id)
                what = (f"behaviour changed in {new.version}: check — this line "
                        f"{_handling(rest)} the value: {entry.summary}")
                change = Change(hop.found[0], BEHAVIOUR, what)
                yield change, spelled(use, hop.index), (use.file, use.line, entry.id), entry


def _handling(rest: tuple[str, ...]) -> str:
    """What the code does to a value: `parses (.split(…)[…])`, `compares`, `indexes`."""
    if rest[0] == COMPARED:
        return "compares"
    if rest[0] == ITEM:
        return "indexes"
    shown = "".join("(…)" if s == CALL else "[…]" if s == ITEM else "" if s == COMPARED
                    else f".{s}" for s in rest)
    return f"parses ({shown})"
