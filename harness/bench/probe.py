"""An untimed pass that records what each side does for one call of each operation.

After the gate and the client side have been timed, each operation runs once more per side,
outside any timing: the requests the client sent (as in the rounds), and the SQL statements
that side's server issued for it, read from PostgreSQL's `pg_stat_statements` before and after
the call in that side's own database (each side has its own: statements are attributed to a
side by database). Snapshots around the *timed* calls would disturb the timing; this pass
costs a few seconds instead (`PROBE_LIMIT_S` at most: the operations that regressed or are
undecided first, each twice per side: `CALLS`).

- **Server side**: the fixed (old-version) client against each server: what each server
  version runs for the same request.
- **Client side**: each version's own client against the new server: what the server runs
  for each client's requests.

The local provider's PostgreSQL preloads pg_stat_statements; on another server (a container,
one of yours) the statements are counted only if it is already set up there, and otherwise the
result says once why not. Nothing here fails the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from harness.agent.client import Agent
from harness.bench.analysis import NEW, OLD
from harness.bench.clients import CLIENT_MODULE, Clients
from harness.bench.operations import BY_NAME
from harness.bench.statements import Row, Snapshot, ran_between, steady, summary
from harness.errors import HarnessError
from harness.progress import Progress
from harness.services.base import PostgresService
from harness.session import RunSession

PROBE_LIMIT_S = 30.0  # the whole pass; operations not reached by then are listed
CALL_TIMEOUT_S = 120.0
# Calls per side of an operation that is not unchanged: the statements every one of them ran
# count, so that a server's occasional one (3.4.0 reads its webhooks again when their cache
# expires: 8 more statements in 1 of 4 register_model_version calls) is not taken for what
# the version does; an unchanged operation's statements are recorded from one call.
CALLS = 2
SETTLE_S = 0.01  # after the response: a statement the server finishes after it counts too
ROLES = {OLD: "from", NEW: "to"}
PARTS = ("server_side", "client_side")
PRIORITY = {"regression": 0, "inconclusive": 1}
SNAPSHOT = ("SELECT queryid, userid, toplevel, query, calls, total_exec_time "
            "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname "
            "= %s)")


class StatementReader:
    """`pg_stat_statements` on the run's PostgreSQL, read from its admin database (the
    extension's view there shows every database's statements, each with its `dbid`)."""

    def __init__(self, postgres: PostgresService | None) -> None:
        self.postgres = postgres
        self.connection: psycopg.Connection[tuple[Any, ...]] | None = None
        self.unavailable = ""

    def open(self) -> bool:
        """Ready to read, or `unavailable` says why not (once)."""
        if self.postgres is None:
            self.unavailable = "no PostgreSQL in this run"
            return False
        try:
            self.connection = self.postgres.server.connect()
            if self.postgres.owned:
                self.connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            self.connection.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
        except (psycopg.Error, HarnessError) as error:
            self.close()
            self.unavailable = ("pg_stat_statements is not available on this PostgreSQL ("
                                + (str(error).strip().splitlines() or ["unknown"])[0] + ")")
            return False
        return True

    def snapshot(self, database: str) -> Snapshot | None:
        """`database`'s statements so far; None (and `unavailable` set) once reading fails."""
        if self.connection is None:
            return None
        try:
            rows = self.connection.execute(SNAPSHOT, (database,)).fetchall()
        except psycopg.Error as error:
            self.close()
            self.unavailable = f"reading pg_stat_statements failed ({str(error).strip()[:200]})"
            return None
        return {(qid, user, top): Row(str(query), int(calls), float(ms))
                for qid, user, top, query, calls, ms in rows}

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except psycopg.Error:
                pass
            self.connection = None


@dataclass
class Target:
    """Where one side's probed call goes: the client process, the server, the seeded data
    and the database whose statements it causes."""

    agent: Agent
    url: str
    context: dict[str, Any]
    database: str


@dataclass
class Probe:
    clients: Clients
    session: RunSession
    progress: Progress
    reader: StatementReader = field(default_factory=lambda: StatementReader(None))

    def run(self, result: dict[str, Any], limit_s: float = PROBE_LIMIT_S) -> dict[str, Any]:
        """Each operation of `result`'s parts per side (twice unless it is unchanged: `CALLS`),
        regressed and undecided ones first, until `limit_s` has passed; each one's `probe` is
        added to its operation."""
        began = time.monotonic()
        order = probe_order(result)
        if not order:
            return {"sql": False, "seconds": 0.0, "probed": 0}
        if self.reader.postgres is None:
            self.reader = StatementReader(self.session.postgres)
        sql = self.reader.open()
        probed: list[str] = []
        with self.progress.phase(f"benchmark: SQL statements of {len(order)} operation(s) "
                                 "per side, untimed"):
            try:
                for part, op in order:
                    if time.monotonic() - began > limit_s:
                        break
                    item = result[part]["operations"][op]
                    found = self._operation(part, op, 1 if item.get("verdict") == "unchanged"
                                            else CALLS)
                    if found:
                        result[part]["operations"][op]["probe"] = found
                        probed.append(label(part, op))
            finally:
                self.reader.close()
        outcome: dict[str, Any] = {"sql": sql and not self.reader.unavailable,
                                   "seconds": round(time.monotonic() - began, 1),
                                   "probed": len(probed)}
        if self.reader.unavailable:
            outcome["sql_unavailable"] = self.reader.unavailable
        left = [label(part, op) for part, op in order if label(part, op) not in probed]
        if left:
            outcome["not_probed"] = left
        return outcome

    def _operation(self, part: str, op: str, calls: int) -> dict[str, Any]:
        """`op` `calls` times per side (old, then new): {side: requests and statements};
        empty when a call failed (said on the console: the probe never fails the run)."""
        found: dict[str, Any] = {}
        for side in (OLD, NEW):
            target = self._target(part, side)
            if target is None:
                return {}
            try:
                found[side] = self._once(target, op, calls)
            except HarnessError as error:
                self.progress.say(f"benchmark: probing {label(part, op)} on the {side} side "
                                  f"failed: {str(error).splitlines()[0][:200]}")
                return {}
        return found

    def _target(self, part: str, side: str) -> Target | None:
        clients, sides = self.clients, self.session.sides
        if part == "server_side":
            if not clients.fixed:
                return None
            return Target(clients.fixed[0], clients.urls[side], clients.contexts[side],
                          sides[ROLES[side]].database)
        own = clients.own
        if own is None:
            return None
        return Target(own.agents[side], own.server, own.contexts[side], sides["to"].database)

    def _once(self, target: Target, op: str, calls: int = 1) -> dict[str, Any]:
        """Ready the client (untimed requests such as the fluent API's experiment), then
        snapshot, a call, snapshot, `calls` times: the first call's requests, and the
        statements every call ran (`steady`)."""
        target.agent.call(CLIENT_MODULE, "probe_ready", timeout=CALL_TIMEOUT_S,
                          tracking_uri=target.url, server=target.url, context=target.context,
                          op=op)
        record: dict[str, Any] = {}
        ran: list[list[dict[str, Any]]] = []
        before = self.reader.snapshot(target.database)
        for _ in range(calls):
            got = target.agent.call(CLIENT_MODULE, "probe_call", timeout=CALL_TIMEOUT_S,
                                    tracking_uri=target.url)
            record = record or got
            if before is not None:
                time.sleep(SETTLE_S)
                after = self.reader.snapshot(target.database)
                if after is not None:
                    ran.append(ran_between(before, after))
                before = after
        if ran and len(ran) == calls:
            record.update(summary(steady(ran)))
            totals = sorted({sum(s["calls"] for s in statements) for statements in ran})
            if len(totals) > 1:
                record["statements_range"] = [totals[0], totals[-1]]
        return record


def label(part: str, op: str) -> str:
    return f"{op} ({'server' if part == 'server_side' else 'client'})"


def probe_order(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(part, operation) for every operation timed in rounds (not the 64 MB transfers):
    regressions, then undecided ones, then the rest, server side before client side."""
    found = [(PRIORITY.get(str(item.get("verdict")), 2), index, position, part, op)
             for index, part in enumerate(PARTS)
             for position, (op, item) in enumerate(
                 (result.get(part) or {}).get("operations", {}).items())
             if not (op in BY_NAME and BY_NAME[op].large)]
    return [(part, op) for *_, part, op in sorted(found)]
