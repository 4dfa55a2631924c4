"""Uses × changes → findings: each a `file:line`, the API as the code spells it, what changed,
and the catalog entry and source where one documents it.

A removed or moved API is named once per file (at its first use; later lines are listed in
the finding); a call's parameter changes, and attributes of MLflow values, are named at each
line. Deprecations and behaviour changes ("behaviour changed: check") do not break: they are
pointers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.scan.catalog import ApiEntry
from harness.scan.changes import (
    BEHAVIOUR,
    DEPRECATED,
    MOVED,
    PARAM_DEPRECATED,
    REMOVED,
    Change,
    call_changes,
    cli_change,
    object_change,
)
from harness.scan.surface import Surface
from harness.scan.uses import Use
from harness.scan.values import value_changes

DEPRECATIONS = (DEPRECATED, PARAM_DEPRECATED)  # warnings today; the call still works
# Not breaks: deprecations, and behaviour changes to check (the code may or may not rely on it)
NOT_BREAKING = (*DEPRECATIONS, BEHAVIOUR)


@dataclass
class Finding:
    file: str
    line: int
    api: str
    kind: str
    what: str
    parameter: str | None = None
    catalog: str | None = None
    summary: str = ""
    source: str = ""
    also_at: list[int] = field(default_factory=list)

    def text(self) -> str:
        where = f"{self.file}:{self.line}"
        more = f" (also lines {', '.join(map(str, self.also_at))})" if self.also_at else ""
        doc = f" [{self.catalog}: {self.source}]" if self.catalog else ""
        return f"{where}: {self.api} — {self.what}{more}{doc}"

    @property
    def breaking(self) -> bool:
        """Whether this use fails on the new version (a deprecation still works today, a
        behaviour change is a place to check)."""
        return self.kind not in NOT_BREAKING

    @property
    def check(self) -> bool:
        """A behaviour change to check ("behaviour changed: check"), not a break."""
        return self.kind == BEHAVIOUR

    def place(self) -> str:
        """`file:line api`, with the parameter when that is what changed: two parameters of
        one call are two places, not the same one twice."""
        parameter = f"({self.parameter}=…)" if self.parameter else ""
        return f"{self.file}:{self.line} {self.api}{parameter}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _entry(entries: Sequence[ApiEntry], change: Change, api: str, old: Surface) -> ApiEntry | None:
    canonical = old.resolve(change.api)
    path = canonical[0] if canonical else change.api
    for entry in entries:
        if entry.behaviour or entry.value:
            continue
        if entry.parameter is not None and entry.parameter != change.parameter:
            continue
        if entry.names(api, path, old) or entry.names(change.api, path, old):
            return entry
    return None


def _command(api: str, old: Surface) -> str | None:
    words = api.split()
    for end in range(len(words), 1, -1):
        if " ".join(words[:end]) in old.cli:
            return " ".join(words[:end])
    return None


def find(uses: Iterable[Use], old: Surface, new: Surface,
         entries: Sequence[ApiEntry] = ()) -> list[Finding]:
    """The findings for `uses` when upgrading from `old` to `new`, in file and line order."""
    found: dict[tuple[Any, ...], Finding] = {}

    def add(use: Use, change: Change, api: str, key: tuple[Any, ...],
            entry: ApiEntry | None = None) -> None:
        if key in found:
            if use.line != found[key].line and use.line not in found[key].also_at:
                found[key].also_at.append(use.line)
            return
        entry = entry or _entry(entries, change, api, old)
        found[key] = Finding(use.file, use.line, api, change.kind, change.what,
                             change.parameter, entry.id if entry else None,
                             entry.summary if entry else "", entry.source if entry else "")

    for use in sorted(uses, key=lambda u: (u.file, u.line)):
        if use.kind == "read":
            for read, api, key, entry in value_changes(use, old, new, entries):
                add(use, read, api, key, entry)
            continue
        if use.kind == "command":
            command = _command(use.api, old)
            change = cli_change(command, old, new) if command else None
            if change is not None:
                add(use, change, change.api, (use.file, change.api))
            continue
        change = object_change(use.api, old, new)
        if change is not None and change.kind in (REMOVED, MOVED):
            add(use, change, change.api, (use.file, _canonical(change.api, old)))
            continue
        if change is not None:
            add(use, change, use.api, (use.file, use.line, use.api, change.kind))
        if use.kind == "call":
            for call in call_changes(use.api, old, new, use.keywords, use.positional,
                                     use.bound, complete=not use.partial):
                add(use, call, use.api, (use.file, use.line, use.api, call.kind,
                                         call.parameter))
        _behaviour(use, old, new, entries, add)
    return sorted(found.values(), key=lambda f: (f.file, f.line, f.api, f.kind))


def _canonical(path: str, surface: Surface) -> str:
    found = surface.resolve(path)
    return found[0] if found else path


def _behaviour(use: Use, old: Surface, new: Surface, entries: Sequence[ApiEntry],
               add: Any) -> None:
    if use.kind not in ("call", "reference"):
        return
    canonical = _canonical(use.api, old)
    for entry in entries:
        if entry.behaviour and not entry.value and entry.crosses(old.version, new.version) and \
                entry.names(use.api, canonical, old):
            change = Change(use.api, BEHAVIOUR, f"behaviour changed in {new.version}: "
                                                f"{entry.summary}")
            add(use, change, use.api, (use.file, use.line, entry.id), entry)
