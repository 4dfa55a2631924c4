"""The compatibility matrix as a run's results hold it (`results.json`: `matrix`), derived
from the checks by `harness/matrix.py` `summarize`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.results.phase import Upgrade, named


@dataclass(frozen=True)
class CellFailure:
    """A check that did not pass in a cell, with its failing call and error."""

    test: str
    scenario: str
    status: str
    call: str
    error: str
    defect: str


@dataclass(frozen=True)
class MatrixCell:
    """One (client version, server version) pair: `passed`, `failed` or `not_applicable`
    (nothing ran, or everything was skipped)."""

    client: str
    server: str
    status: str
    advisory: bool
    counts: dict[str, int]
    scenarios: dict[str, str]
    failures: list[CellFailure]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatrixCell:
        return cls(data["client"], data["server"], data["status"], bool(data["advisory"]),
                   dict(data.get("counts", {})), dict(data.get("scenarios", {})),
                   [CellFailure(**f) for f in data.get("failures", [])])


@dataclass(frozen=True)
class Matrix:
    """The compatibility matrix of a run's checks (`results.json`: `matrix`)."""

    clients: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)
    cells: list[MatrixCell] = field(default_factory=list)

    def cell(self, client: str, server: str) -> MatrixCell:
        return next(c for c in self.cells if (c.client, c.server) == (client, server))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Matrix:
        return cls(list(data.get("clients", [])), list(data.get("servers", [])),
                   [MatrixCell.from_dict(c) for c in data.get("cells", [])])

    def blocking(self, upgrade: Upgrade) -> list[str]:
        """A failed required cell's checks block the run already (`blocking_failures`)."""
        return []

    def caveats(self, upgrade: Upgrade) -> list[str]:
        advisory = [c for c in self.cells if c.status == "failed" and c.advisory]
        if not advisory:
            return []
        return ["newer clients fail on older servers (upgrade servers first): " + named(
            [f"{c.client} client → {c.server} server" for c in advisory])]
