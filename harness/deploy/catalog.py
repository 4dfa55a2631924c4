"""`harness/catalog/deployment.toml`: refusals only a public URL meets and what fixes them;
auth migrations that change what a user may do. Read with `importlib.resources`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Refusal:
    id: str
    signature: str
    since: str
    option: str
    environment: str
    summary: str
    source: str

    def applies(self, version: str) -> bool:
        try:
            return Version(version) >= Version(self.since)
        except InvalidVersion:
            return True

    def fix(self, host: str, origin: str) -> str:
        """`--allowed-hosts mlflow.example.com` (or MLFLOW_SERVER_ALLOWED_HOSTS=…)."""
        option = self.option.format(host=host, origin=origin)
        environment = self.environment.format(host=host, origin=origin)
        return f"`{option}` in its server options (or {environment} in its environment)"


@dataclass(frozen=True)
class AuthRevision:
    id: str
    drops: tuple[str, ...]
    summary: str
    source: str


@cache
def _catalog() -> dict[str, Any]:
    text = resources.files("harness").joinpath("catalog/deployment.toml").read_text()
    return tomllib.loads(text)


def refusals() -> list[Refusal]:
    return [Refusal(**entry) for entry in _catalog().get("refusal", [])]


def auth_revisions() -> list[AuthRevision]:
    return [AuthRevision(entry["id"], tuple(entry.get("drops", [])), entry["summary"],
                         entry["source"]) for entry in _catalog().get("auth_revision", [])]


def refusal_in(text: str) -> Refusal | None:
    """The catalogued refusal whose signature `text` (an answer, a failure) carries."""
    lowered = text.lower()
    return next((r for r in refusals() if r.signature.lower() in lowered), None)


def responsible(applied: list[str], grant: str) -> tuple[str, str]:
    """The applied auth revision (`id description`) that does not carry `grant` over, and why
    (the catalog's summary and source); else the applied revisions, one of which did, and ""."""
    for revision in auth_revisions():
        line = next((line for line in applied if line.split()[:1] == [revision.id]), None)
        if line is not None and grant in revision.drops:
            described = f" ({line.split(maxsplit=1)[1]})" if len(line.split()) > 1 else ""
            return (f"auth migration {revision.id}{described}",
                    f"{revision.summary} ({revision.source})")
    if not applied:
        return "no auth migration applied", ""
    return "one of the auth migrations applied: " + ", ".join(applied), ""
