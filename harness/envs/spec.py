"""Requirement specs: what the user names on --from/--to, turned into pip requirements."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from harness.errors import SpecError

_WHEEL_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-.*\.whl$")
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


class SpecKind(StrEnum):
    VERSION = "version"
    SPECIFIER = "specifier"
    WHEEL = "wheel"
    VCS = "vcs"


@dataclass(frozen=True)
class MlflowSpec:
    """One side's MLflow: the requirement pip gets, and the version when it is known up front."""

    raw: str
    kind: SpecKind
    requirement: str
    version: Version | None

    @property
    def label(self) -> str:
        """A short name for reports: the version when known, else the raw spec."""
        return str(self.version) if self.version is not None else self.raw


def parse_spec(raw: str) -> MlflowSpec:
    """Parse `2.9.2`, `mlflow==3.5.0rc1`, `mlflow>=3,<4`, `./mlflow-….whl` or `git+https://…`."""
    text = raw.strip()
    if not text:
        raise SpecError("empty MLflow spec: give a version such as 2.9.2")
    if text.startswith(_VCS_PREFIXES):
        if "://" not in text:
            raise SpecError(f"malformed VCS spec {raw!r}: expected e.g. git+https://host/repo@ref")
        return MlflowSpec(raw, SpecKind.VCS, f"mlflow @ {text}", None)
    if text.endswith(".whl"):
        return _wheel_spec(raw, Path(text))
    if text[0].isdigit():
        try:
            version = Version(text)
        except InvalidVersion:
            raise SpecError(f"malformed MLflow version {raw!r}: expected e.g. 2.9.2") from None
        return MlflowSpec(raw, SpecKind.VERSION, f"mlflow=={version}", version)
    try:
        requirement = Requirement(text)
    except InvalidRequirement as error:
        raise SpecError(f"malformed MLflow spec {raw!r}: {error}") from None
    if requirement.name.lower() not in {"mlflow", "mlflow-skinny"}:
        raise SpecError(f"spec {raw!r} names {requirement.name!r}, not mlflow")
    pinned = [s for s in requirement.specifier if s.operator in {"==", "==="}]
    pinned_version: Version | None = None
    if len(pinned) == 1 and "*" not in pinned[0].version:
        try:
            pinned_version = Version(pinned[0].version)
        except InvalidVersion:
            raise SpecError(f"malformed MLflow spec {raw!r}: bad version") from None
    return MlflowSpec(raw, SpecKind.SPECIFIER, str(requirement), pinned_version)


def _wheel_spec(raw: str, path: Path) -> MlflowSpec:
    match = _WHEEL_NAME.match(path.name)
    if match is None or match["name"].lower().replace("_", "-") not in {"mlflow", "mlflow-skinny"}:
        raise SpecError(f"{raw!r} is not an mlflow wheel file name")
    if not path.is_file():
        raise SpecError(f"wheel file {raw!r} does not exist")
    try:
        version = Version(match["version"])
    except InvalidVersion:
        raise SpecError(f"wheel {raw!r} has a malformed version") from None
    return MlflowSpec(raw, SpecKind.WHEEL, str(path.resolve()), version)


def parse_extra(raw: str) -> list[str]:
    """An extra requirement (`mlflow-foo-plugin==1.0`) or `-r requirements.txt`, as requirements."""
    text = raw.strip()
    if text.startswith("-r"):
        return read_requirements_file(Path(text[2:].strip()))
    try:
        Requirement(text)
    except InvalidRequirement as error:
        raise SpecError(f"malformed extra requirement {raw!r}: {error}") from None
    return [text]


def read_requirements_file(path: Path) -> list[str]:
    """Requirements from a file, one per line; comments and blank lines skipped."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise SpecError(f"cannot read requirements file {str(path)!r}: {error.strerror}") from None
    requirements = []
    for line in lines:
        stripped = line.split("#", 1)[0].strip()
        if stripped:
            requirements.extend(parse_extra(stripped))
    return requirements
