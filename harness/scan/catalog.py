"""The documented API changes (`harness/catalog/api_changes.toml`, plus a team's file): which
public source explains a change the scan found, behaviour changes no signature shows, and
values whose shape changed (`value = true`)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.catalog.classify import load_catalog
from harness.errors import UsageError
from harness.scan.surface import Surface


@dataclass(frozen=True)
class ApiEntry:
    id: str
    api: str
    summary: str
    source: str
    parameter: str | None = None
    behaviour: bool = False
    landed_between: tuple[str, str] | None = None
    # The value this attribute holds changed shape: places that parse or compare it are
    # pointed at ("behaviour changed: check"), not every read of it.
    value: bool = False

    def names(self, api: str, canonical: str, old: Surface) -> bool:
        """Whether this entry is about `api` (as spelled, or its canonical path)."""
        if "*" in self.api:
            pattern = re.compile("^" + ".*".join(re.escape(p) for p in self.api.split("*")) + "$")
            return bool(pattern.match(api) or pattern.match(canonical))
        if self.api in (api, canonical):
            return True
        found = old.resolve(self.api)
        return found is not None and found[0] == canonical

    def crosses(self, old_version: str, new_version: str) -> bool:
        if self.landed_between is None:
            return True
        try:
            after, by = (Version(v) for v in self.landed_between)
            return Version(old_version) < by and Version(new_version) > after
        except InvalidVersion:
            return False


def load_api_catalog(extra: Path | None = None) -> tuple[ApiEntry, ...]:
    """The harness's entries, then a team's (`[[api]]` tables of the same shape)."""
    texts = [resources.files("harness.catalog").joinpath("api_changes.toml").read_text()]
    if extra is not None:
        try:
            texts.append(extra.read_text())
        except OSError as error:
            raise UsageError(f"cannot read catalog {extra}: {error.strerror}") from None
    documented = {d.id: d for d in load_catalog()}
    entries = []
    for text in texts:
        try:
            raw_entries = tomllib.loads(text).get("api", [])
        except tomllib.TOMLDecodeError as error:
            raise UsageError(f"catalog {extra} is not TOML: {error}") from None
        for raw in raw_entries:
            linked = documented.get(raw.get("difference", ""))
            summary = raw.get("summary") or (linked.summary if linked else "")
            source = raw.get("source") or (linked.source if linked else "")
            if "id" not in raw or "api" not in raw or not source:
                raise UsageError(f"API catalog entry {raw.get('id', '?')!r} needs id, api and a "
                                 "source (or a difference that has one)")
            between = raw.get("landed_between")
            entries.append(ApiEntry(
                id=raw["id"], api=raw["api"], summary=summary, source=source,
                parameter=raw.get("parameter"), behaviour=bool(raw.get("behaviour", False)),
                landed_between=(str(between[0]), str(between[1])) if between else None,
                value=bool(raw.get("value", False))))
    return tuple(entries)
