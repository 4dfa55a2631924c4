"""Loads `known.toml`: pins old MLflow versions need today, release dates, base requirements,
the PostgreSQL driver each SQLAlchemy loads, and how `mlflow server` runs by default."""

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
class Driver:
    """The DBAPI driver SQLAlchemy loads for a plain postgresql:// URI."""

    sqlalchemy: SpecifierSet
    module: str
    distributions: tuple[str, ...]
    requirement: str


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
    drivers: tuple[Driver, ...] = ()

    def pins_for(self, version: Version | None) -> list[str]:
        """Requirements to add for `version`; none when the version is not known up front."""
        if version is None:
            return []
        found: list[str] = []
        for pin in self.pins:
            if pin.applies_to.contains(version, prereleases=True):
                found.extend(pin.requirements)
        return found

    def driver_requirements(self, version: Version | None) -> list[str]:
        """Drivers added beyond the base requirements and the pins: every known one when the
        MLflow version is not known up front (a VCS URL or an unpinned specifier may resolve
        any SQLAlchemy); none otherwise (the pins name what a version needs)."""
        if version is not None:
            return []
        return [d.requirement for d in self.drivers if d.requirement not in self.base_requirements]

    def driver_for(self, sqlalchemy_version: str) -> Driver:
        """The driver SQLAlchemy `sqlalchemy_version` loads for postgresql://."""
        version = Version(sqlalchemy_version)
        for driver in self.drivers:
            if driver.sqlalchemy.contains(version, prereleases=True):
                return driver
        raise LookupError(f"no PostgreSQL driver known for SQLAlchemy {sqlalchemy_version}")

    def missing_driver(self, packages: dict[str, str]) -> str | None:
        """Why an environment holding `packages` cannot open postgresql://, or None when its
        SQLAlchemy's default driver is installed (or it has no SQLAlchemy to judge)."""
        sqlalchemy = packages.get("sqlalchemy")
        if sqlalchemy is None:
            return None
        driver = self.driver_for(sqlalchemy)
        if any(name in packages for name in driver.distributions):
            return None
        return (f"SQLAlchemy {sqlalchemy} opens postgresql:// with {driver.module}, which is not "
                f"installed: add --from-extra/--to-extra '{driver.requirement}'")

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
    drivers = tuple(
        Driver(SpecifierSet(d["sqlalchemy"]), d["module"], tuple(d["distributions"]),
               d["requirement"])
        for d in data.get("driver", [])
    )
    return KnownFacts(pins, dates, base, defaults, drivers)
