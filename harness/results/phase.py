"""What every phase's typed result can say about the upgrade.

A phase (scenarios, scan, your tests, benchmark, …) returns a typed result. The verdict
(`harness/verdict.py`) composes them and is the only place the run's status comes from:

- `blocking(upgrade)`: reasons the upgrade is *not safe* (each one line, as the report shows it);
- `caveats(upgrade)`: reasons it is *safe, with caveats*;
- `to_dict()`: the result as written to `results.json` (dicts appear only there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

MAX_NAMED = 3  # items named in one reason before "and N more"


@dataclass(frozen=True)
class Upgrade:
    """What a reason may name: the versions the run resolved ("" when unknown)."""

    old: str = ""
    new: str = ""


@runtime_checkable
class PhaseResult(Protocol):
    def blocking(self, upgrade: Upgrade) -> list[str]: ...

    def caveats(self, upgrade: Upgrade) -> list[str]: ...

    def to_dict(self) -> dict[str, Any]: ...


def named(items: list[str]) -> str:
    """`a, b, c and 4 more`: a reason names a few items, the report lists them all."""
    shown = ", ".join(items[:MAX_NAMED])
    return shown + (f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")
