"""Classify each old-vs-new difference as expected (documented) or unexpected.

Entries live in `differences.toml`, each with the MLflow release range in which the change
landed and the public source that documents it. An entry explains a difference when its
scenario, path and values match and the upgrade crosses its release range.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.errors import UsageError

_TEAM: list[str] = []  # the team's catalog text (--catalog), read with the harness's own

EXPECTED = "expected"
UNEXPECTED = "unexpected"
FINDING = "finding"  # true, worth acting on, but not a failure (e.g. a route the proxy drops)


def _glob(pattern: str) -> re.Pattern[str]:
    """`*` matches anything; every other character is literal (paths contain `[0]`)."""
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


@dataclass(frozen=True)
class Documented:
    id: str
    scenario: str
    path: str
    old: str | None
    new: str | None
    landed_after: Version
    landed_by: Version
    summary: str
    source: str

    def crosses(self, old_version: Version, new_version: Version) -> bool:
        """The upgrade moves from before the change to at or after it."""
        return old_version < self.landed_by and new_version > self.landed_after

    def matches(self, scenario: str, path: str, old: Any, new: Any) -> bool:
        if not _glob(self.scenario).match(scenario) or not _glob(self.path).match(path):
            return False
        if self.old is not None and not _glob(self.old).match(_text(old)):
            return False
        return self.new is None or bool(_glob(self.new).match(_text(new)))


def _text(value: Any) -> str:
    return "None" if value is None else str(value)


def _tables(filename: str, kind: str) -> list[dict[str, Any]]:
    """`[[kind]]` tables of the harness's file, then of the team's catalog."""
    texts = [resources.files("harness.catalog").joinpath(filename).read_text(), *_TEAM]
    return [raw for text in texts for raw in tomllib.loads(text).get(kind, [])]


def use_team_catalog(text: str | None) -> None:
    """Read the team's catalog (`--catalog`) along with the harness's from now on."""
    _TEAM[:] = [text] if text else []
    for loader in (load_catalog, load_findings, load_defects):
        loader.cache_clear()


def check_team_catalog(path: Path) -> Path:
    """A team's catalog file, checked once: TOML whose `[[difference]]`, `[[finding]]` and
    `[[defect]]` entries have what the harness's own have; any problem is one line."""
    try:
        data = tomllib.loads(path.read_text())
        for raw in data.get("difference", []):
            _documented(raw)
        for raw in data.get("finding", []):
            _finding(raw)
        for raw in data.get("defect", []):
            _defect(raw)
    except OSError as error:
        raise UsageError(f"--catalog {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"--catalog {path} is not TOML: {error}") from None
    except KeyError as error:
        raise UsageError(f"--catalog {path}: an entry lacks {error}") from None
    except (ValueError, InvalidVersion, InvalidSpecifier) as error:
        raise UsageError(f"--catalog {path}: {error}") from None
    return path


def _documented(raw: dict[str, Any]) -> Documented:
    after, by = raw["landed_between"]
    return Documented(
        id=raw["id"], scenario=raw["scenario"], path=raw["path"],
        old=raw.get("old"), new=raw.get("new"),
        landed_after=Version(after), landed_by=Version(by),
        summary=raw["summary"], source=raw["source"],
    )


@lru_cache(maxsize=1)
def load_catalog() -> tuple[Documented, ...]:
    entries = [_documented(raw) for raw in _tables("differences.toml", "difference")]
    ids = [e.id for e in entries]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate catalog ids: {sorted(duplicates)}")
    return tuple(entries)


@dataclass(frozen=True)
class Finding:
    """A kind of difference a scenario reports as a finding rather than a failure."""

    id: str
    scenario: str
    path: str
    old: str | None
    new: str | None
    summary: str

    def matches(self, scenario: str, path: str, old: Any, new: Any) -> bool:
        if not (_glob(self.scenario).match(scenario) and _glob(self.path).match(path)):
            return False
        if self.old is not None and not _glob(self.old).match(_text(old)):
            return False
        return self.new is None or bool(_glob(self.new).match(_text(new)))


def _finding(raw: dict[str, Any]) -> Finding:
    return Finding(raw["id"], raw["scenario"], raw["path"], raw.get("old"), raw.get("new"),
                   raw["summary"])


@lru_cache(maxsize=1)
def load_findings() -> tuple[Finding, ...]:
    return tuple(_finding(raw) for raw in _tables("differences.toml", "finding"))


def finding(scenario: str, path: str, old: Any, new: Any) -> Finding | None:
    """The finding this difference is, if any (checked after the documented differences)."""
    return next((f for f in load_findings() if f.matches(scenario, path, old, new)), None)


def explain(
    scenario: str, path: str, old: Any, new: Any, old_version: str, new_version: str
) -> Documented | None:
    """The catalog entry that documents this difference, or None."""
    try:
        before, after = Version(old_version), Version(new_version)
    except InvalidVersion:
        return None
    for entry in load_catalog():
        if entry.crosses(before, after) and entry.matches(scenario, path, old, new):
            return entry
    return None


@dataclass(frozen=True)
class KnownDefect:
    id: str
    test: str
    affected: SpecifierSet
    summary: str
    source: str
    message: str = ""  # a regex the failure message must match ("" = any failure)
    # Replayed traffic (`run --replay`): the route (glob) whose answers the defect changes,
    # and a regex every example request line (`GET /api/…?…`) must match.
    route: str = ""
    request: str = ""


def _defect(raw: dict[str, Any]) -> KnownDefect:
    return KnownDefect(raw["id"], raw.get("test", ""), SpecifierSet(raw["affected"]),
                       raw["summary"], raw["source"], raw.get("message", ""),
                       raw.get("route", ""), raw.get("request", ""))


@lru_cache(maxsize=1)
def load_defects() -> tuple[KnownDefect, ...]:
    return tuple(_defect(raw) for raw in _tables("defects.toml", "defect"))


def known_defect(case: str, version: str, message: str = "") -> KnownDefect | None:
    """The documented defect of `version` that this test (without its side) reproduces: the
    test matches, the version is affected, and the failure looks like the defect."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    for defect in load_defects():
        if _glob(defect.test).match(case) and defect.affected.contains(parsed, prereleases=True) \
                and re.search(defect.message, message):
            return defect
    return None


def route_defect(route: str, requests: list[str], version: str) -> KnownDefect | None:
    """The documented defect of `version` that changes the answers of this replayed route,
    for requests like these (each matches the defect's `request` regex)."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    for defect in load_defects():
        if defect.route and _glob(defect.route).match(route) \
                and defect.affected.contains(parsed, prereleases=True) \
                and all(re.search(defect.request, line) for line in requests):
            return defect
    return None
