"""The client × server compatibility matrix.

During a rolling upgrade, old clients talk to the new server; drifted services run a new client
against an old server. Every scenario marked `matrix` (client-side: it only talks to a server
through `mlflow_client`) runs in each cell (client version, server version):

- the diagonal cells are the ordinary sides, `from` and `to` (each version's own client);
- the other cells are named `<client role>_on_<server role>`, e.g. `from_on_to` (the old
  client against the new server) or `client1_on_from` (an extra `--clients` version).

A cell whose client is *newer* than its server is **advisory**: its failures are reported
(they say "upgrade the servers before the clients") but do not fail the run. Every other
cell is required: old clients must keep working against the new server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from harness.results.matrix import CellFailure, Matrix, MatrixCell
from harness.results.model import CheckResult, Status

SERVERS = ("from", "to")
SEPARATOR = "_on_"
MARKER = "matrix"


@dataclass(frozen=True)
class Cell:
    """A client role on a server role; `id` is the value of the scenarios' `side` parameter."""

    client: str
    server: str

    @property
    def id(self) -> str:
        return self.server if self.diagonal else f"{self.client}{SEPARATOR}{self.server}"

    @property
    def diagonal(self) -> bool:
        return self.client == self.server


def parse_cell(side: str) -> Cell:
    """`from` → (from, from); `client1_on_to` → (client1, to)."""
    client, found, server = side.partition(SEPARATOR)
    return Cell(client, server) if found else Cell(side, side)


def is_cell(side: str) -> bool:
    cell = parse_cell(side)
    return cell.server in SERVERS


def cells_for(clients: Iterable[str]) -> list[Cell]:
    """Every listed client role on each server, in a stable order."""
    return [Cell(client, server) for client in clients for server in SERVERS]


def advisory(client_version: str, server_version: str) -> bool:
    """A client newer than its server: not expected to work during an upgrade."""
    try:
        return Version(client_version) > Version(server_version)
    except InvalidVersion:
        return False


def _sort_key(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


FAILING = (Status.FAILED, Status.ERROR, Status.KNOWN_DEFECT)


def summarize(checks: Iterable[CheckResult]) -> Matrix:
    """The matrix of the checks that ran in it: per (client, server) version pair, its status,
    each scenario's status and, for a failed cell, its failing calls and errors, first one
    first."""
    by_cell: dict[tuple[str, str], list[CheckResult]] = {}
    for check in checks:
        if check.in_matrix and check.client_version and check.server_version:
            by_cell.setdefault((check.client_version, check.server_version), []).append(check)
    clients = sorted({c for c, _ in by_cell}, key=_sort_key)
    servers = sorted({s for _, s in by_cell}, key=_sort_key)
    cells = []
    for client in clients:
        for server in servers:
            found = sorted(by_cell.get((client, server), []), key=lambda c: c.case or c.test)
            cells.append(_cell(client, server, found))
    return Matrix(clients, servers, cells)


def _cell(client: str, server: str, checks: list[CheckResult]) -> MatrixCell:
    failures = [
        CellFailure(check.case or check.test, check.scenario, check.status.value,
                    check.failing_call, check.message, check.defect.get("id", ""))
        for check in checks if check.status in FAILING
    ]
    ran = [check for check in checks if check.status is not Status.SKIPPED]
    status = "not_applicable" if not ran else "failed" if failures else "passed"
    scenarios: dict[str, str] = {}
    for check in checks:
        previous = scenarios.get(check.scenario)
        mine = "failed" if check.status in FAILING else \
            "not_applicable" if check.status is Status.SKIPPED else "passed"
        if previous is None or _rank(mine) > _rank(previous):
            scenarios[check.scenario] = mine
    counts = {s.value: sum(1 for c in checks if c.status is s) for s in Status}
    return MatrixCell(client, server, status, advisory(client, server),
                      {k: v for k, v in counts.items() if v}, dict(sorted(scenarios.items())),
                      failures)


def _rank(status: str) -> int:
    return {"not_applicable": 0, "passed": 1, "failed": 2}[status]


def is_advisory(check: CheckResult) -> bool:
    """A matrix check whose client is newer than its server: reported, never blocking."""
    return bool(check.in_matrix and check.client_version and check.server_version
                and advisory(check.client_version, check.server_version))


def blocking_failures(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """Failed checks that fail the run: every failure outside an advisory cell."""
    return [check for check in checks
            if check.status in (Status.FAILED, Status.ERROR) and not is_advisory(check)]


def check_counts(checks: Iterable[CheckResult]) -> dict[str, int]:
    """How many checks have each status, the way the verdict counts them: failures and errors
    of advisory cells are `advisory`, not `failed` or `error`."""
    counts = {status.value: 0 for status in Status} | {"advisory": 0}
    for check in checks:
        failing = check.status in (Status.FAILED, Status.ERROR)
        counts["advisory" if failing and is_advisory(check) else check.status.value] += 1
    return counts


def counts_line(counts: dict[str, int], skipped: bool = True) -> str:
    """`146 passed, 0 failed, 7 advisory, 0 errors, 0 skipped, 1 known defects` (advisory
    only when there are some)."""
    parts = [f"{counts['passed']} passed", f"{counts['failed']} failed"]
    parts += [f"{counts['advisory']} advisory"] if counts.get("advisory") else []
    parts += [f"{counts['error']} errors"]
    parts += [f"{counts['skipped']} skipped"] if skipped else []
    return ", ".join([*parts, f"{counts['known_defect']} known defects"])
