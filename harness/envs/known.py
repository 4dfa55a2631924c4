"""Loads `known.toml`: pins old MLflow versions need today, release dates, base requirements,
and how `mlflow server` runs by default."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from harness.errors import SpecError


@dataclass(frozen=True)
class Pin:
    applies_to: SpecifierSet
    requirements: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class ServerDefaults:
    """What `mlflow server` runs when it is given no --workers and no server options."""

    default_workers: int = 4
    uvicorn_default_from: Version = Version("3.3.0")


@dataclass(frozen=True)
class KnownFacts:
    pins: tuple[Pin, ...]
    release_dates: dict[str, dt.date]
    base_requirements: tuple[str, ...]
    server: ServerDefaults = field(default_factory=ServerDefaults)

    def pins_for(self, version: Version | None) -> list[str]:
        """Requirements to add for `version`; none when the version is not known up front."""
        if version is None:
            return []
        found: list[str] = []
        for pin in self.pins:
            if pin.applies_to.contains(version, prereleases=True):
                found.extend(pin.requirements)
        return found

    def exclude_newer(self, version: Version | None) -> str:
        """uv's --exclude-newer value that resolves as of `version`'s release day."""
        if version is None or str(version) not in self.release_dates:
            known = ", ".join(sorted(self.release_dates))
            raise SpecError(
                f"no release date known for MLflow {version or '(unversioned spec)'}; "
                f"known: {known}. Pass --exclude-newer YYYY-MM-DD instead"
            )
        day_after = self.release_dates[str(version)] + dt.timedelta(days=1)
        return day_after.isoformat()


@lru_cache(maxsize=1)
def load_known() -> KnownFacts:
    data = tomllib.loads(resources.files("harness.envs").joinpath("known.toml").read_text())
    pins = tuple(
        Pin(SpecifierSet(p["applies_to"]), tuple(p["requirements"]), p["reason"])
        for p in data.get("pin", [])
    )
    dates = {k: dt.date.fromisoformat(v) for k, v in data.get("release_dates", {}).items()}
    base = tuple(data.get("base", {}).get("requirements", []))
    server = data["server"]
    defaults = ServerDefaults(int(server["default_workers"]),
                              Version(server["uvicorn_default_from"]))
    return KnownFacts(pins, dates, base, defaults)
