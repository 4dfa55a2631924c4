"""The benchmark phase: both servers at once, one fixed client, interleaved rounds, a gate.

`Benchmark.run()` times its parts in this order, each to its deadline (`schedule.Budget`):

1. **Server side** (`server_gate`): client processes of the old version time every operation
   but the 64 MB transfers against both servers in the same round (`clients.py`); with
   `--inject-latency`, the new server holds the chosen routes back by a known fraction of the
   old side's median time. Adaptive rounds until every operation is decided or the gate's
   share is spent (`schedule.py`); analysed and gated (`analysis.py`).
2. **Client side** (`_client_side`): each version's own client against the new server.
3. **Diagnosis**: operations that regress are re-timed on new connections (`retime_fresh`):
   slower on kept-alive connections only is a connection-level cause (`diagnosis.py`). A
   catalogued cause with a remedy gets the gate again against a server started with it
   (`verify_remedies`; the server started during seeding, `remedies.py`).
4. **64 MB transfers last** (`large_gate`): a capped download does not stop the server.
   3.4.0's WSGI bridge goes on streaming the rest of the file into the closed connection for
   about a minute with a core busy (measured: 1.0 CPU-s/s for 40 s after the client left),
   and every round timed after it would run on one core of two.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from harness.bench.analysis import (
    FRESH,
    NEW,
    OLD,
    REUSED,
    Samples,
    analyse,
    discount_client_side,
    regate,
    regroup,
)
from harness.bench.clients import CLIENT_MODULE, Clients
from harness.bench.diagnosis import ARTIFACT_TRANSFER, Group, diagnose
from harness.bench.inject import injected_delays
from harness.bench.operations import ALL, BY_NAME
from harness.bench.probe import Probe
from harness.bench.remedies import (
    RemedyServers,
    expected_remedies,
    override_args,
    remedy_server,
    workers_args,
)
from harness.bench.schedule import (
    DOWNLOAD_ROOM,
    Budget,
    Condition,
    Rounds,
    another_fits,
    condition,
    extension_until,
    large_order,
    part_until,
    undecided,
)
from harness.bench.tuning import TUNING, BenchSettings, Tuning
from harness.errors import ClientCallError, HarnessError
from harness.progress import Progress
from harness.services.server_args import server_setup
from harness.session import RunSession

__all__ = [  # the phase's names, wherever they live, as other code imports them
    "CLIENT_MODULE", "FRESH", "NEW", "OLD", "REUSED", "TUNING", "BenchSettings", "Benchmark",
    "Condition", "Samples", "Tuning", "analyse", "condition", "expected_remedies",
    "injected_delays", "override_args", "regate", "regroup", "undecided",
]
Play = Callable[[list[str], int], None]  # (operations, round index): time one round
T = TypeVar("T")


def failed_operation(error: str) -> dict[str, Any]:
    """A large transfer that failed before any round: undecided, with why."""
    return {"verdict": "inconclusive", "rounds": 0, "ratio": None, "low": None, "high": None,
            "old_median_s": 0.0, "new_median_s": 0.0, "extrapolated": 0,
            "median_rule_fails": False, "samples": {OLD: [], NEW: []},
            "description": f"inconclusive: the transfer failed ({error})"}


class Benchmark:
    """The phase on a provisioned session. `run()` does it all once; calibration calls
    `open()`, then `server_gate()` as often as it likes, then `close()`."""

    def __init__(self, session: RunSession, settings: BenchSettings, progress: Progress) -> None:
        self.session = session
        self.settings = settings
        self.progress = progress
        self.clients = Clients(session, settings.proxies, settings.tuning)
        self.failed_transfers: dict[str, str] = {}  # a large transfer's failure, by operation

    @property
    def tuning(self) -> Tuning:
        return self.settings.tuning

    def open(self) -> None:
        """Clients, proxies, seeded data and warmed servers (`Clients.open`)."""
        self.clients.open(large=next((BY_NAME[op].artifact for op in self.settings.operations
                                      if BY_NAME[op].large), ""))

    def close(self) -> None:
        self.clients.close()

    def run(self) -> dict[str, Any]:
        began = time.monotonic()
        try:
            with self._remedy_servers() as remedies:
                self.open()  # seeding and warming the servers: not in the budget
                return self._parts(began, time.monotonic(), remedies)
        finally:
            self.close()

    def _parts(self, began: float, started: float, remedies: RemedyServers) -> dict[str, Any]:
        """Every timed part in turn, the rounds having `started`; the phase's result."""
        budget = Budget.of(self.settings)
        server_side = self.server_gate(budget.gate_until(started))
        result: dict[str, Any] = {"settings": self._settings(), "server_side": server_side}
        if self.settings.client_side:  # its share, and no later than the large rounds'
            result["client_side"] = self._client_side(
                budget.client_until(time.monotonic(), started))
        diagnosis_deadline = budget.diagnosis_until(time.monotonic())
        self.retime_fresh(server_side, diagnosis_deadline)
        result["probe"] = Probe(self.clients, self.session, self.progress).run(result)
        groups = self._diagnose(result)
        self.verify_remedies(groups, server_side, diagnosis_deadline, remedies)
        # Last: a capped 64 MB download leaves the server streaming the rest for a minute.
        self.large_gate(server_side, budget.large_until(time.monotonic()))
        result["causes"] = [group.to_dict() for group in
                            regroup(groups, self._diagnose(result), server_side)]
        discount_client_side(result)
        result["setup_s"] = round(started - began, 1)
        result["seconds"] = round(time.monotonic() - began, 1)
        return result

    def _settings(self) -> dict[str, Any]:
        """The phase's settings as the result records them."""
        return {"budget_s": self.settings.budget_s,
                "threshold": self.settings.threshold,
                "inject": [list(i) for i in self.settings.inject],
                "fixed_client": self.session.sides["from"].version,
                "client_processes": len(self.clients.fixed),
                "connections": REUSED,
                "warm_up_requests": self.clients.warmed,
                "through_proxies": self.clients.use_proxies}

    def server_gate(self, deadline: float, rounds: int | None = None) -> dict[str, Any]:
        """Warm up, inject latency if asked, then interleaved rounds of every operation but the
        large transfers until `deadline` (or exactly `rounds`); analysed and gated. The large
        transfers come later, in `large_gate`."""
        fast = [op for op in self.settings.operations if not BY_NAME[op].large]
        injected = self._inject_latency(fast)
        samples = Samples()
        if rounds is not None:  # calibration: exactly `rounds` rounds of everything
            for index in range(rounds):
                self.clients.round(samples, fast, index)
            index = rounds
        else:
            index = self._rounds_until_decided(samples, fast, self.tuning.min_fast_rounds,
                                               deadline, partial(self.clients.round, samples),
                                               extend=True)
        analysis = analyse(samples, self.settings)
        analysis["rounds"] = index
        analysis["injected_delay_s"] = {op: round(s, 6) for op, s in injected.items()}
        return analysis

    def _inject_latency(self, fast: list[str]) -> dict[str, float]:
        """Warm every client process up on `fast`, then put the injected delays in force (none
        without --inject-latency); returns each injected operation's delay."""
        settings = self.settings
        warmup = self.clients.warm_up(fast)
        if settings.inject:  # the first calls above paid first-call costs: measure again, warm
            basis = [op for op in fast if op in dict(settings.inject) or ALL in
                     dict(settings.inject)]
            warmup = Samples()
            for _ in range(self.tuning.inject_basis_passes):
                for op, times in self.clients.warm_up(basis).old.items():
                    warmup.old.setdefault(op, []).extend(times)
        injected, routes = injected_delays(settings, warmup)
        self.clients.inject(routes)
        return injected

    def _rounds_until_decided(self, samples: Samples, ops: list[str], minimum: int,
                              deadline: float, play: Play, extend: bool = False) -> int:
        """`minimum` rounds of `ops`, then rounds of the still undecided ones until `deadline`
        and, with `extend`, of the straddlers more rounds would settle a while longer
        (`schedule.Rounds`), each timed by `play`; returns the number of rounds."""
        extended = extension_until(time.monotonic(), deadline, self.tuning) if extend \
            else None
        loop = Rounds(minimum, deadline, self.settings.threshold, self.tuning, extended)
        index = 0
        while chosen := loop.next(samples, ops, index, time.monotonic()):
            play(chosen, index)
            index += 1
        return index

    def _client_side(self, deadline: float) -> dict[str, Any]:
        """Each version's own client against the new server, alternating by round."""
        own = self.clients.own_clients()
        ops = [op for op in self.settings.operations if BY_NAME[op].client_side]
        samples = Samples()
        index = self._rounds_until_decided(samples, ops, self.tuning.min_fast_rounds, deadline,
                                           partial(own.round, samples), extend=True)
        analysis = analyse(samples, self.settings)
        analysis["rounds"] = index
        return analysis

    def retime_fresh(self, server_side: dict[str, Any], deadline: float) -> None:
        """The regressed operations again, each timed call on a new connection: what the
        server's work costs without the kept-alive connection. Adds `fresh` to each one's
        `by_connection` (the gate's own rounds are the `reused` side)."""
        ops = [op for op, item in server_side.get("operations", {}).items()
               if item.get("verdict") == "regression" and not BY_NAME[op].large]
        if not ops:
            return
        samples = Samples()
        with self.progress.phase(f"benchmark: {len(ops)} regressed operation(s) on new "
                                 "connections"):
            self._rounds_until_decided(samples, ops, self.tuning.fresh_rounds, deadline,
                                       partial(self.clients.round, samples, connection=FRESH))
        for op, item in analyse(samples, self.settings)["operations"].items():
            fresh = item["by_connection"].get(FRESH) or {
                k: item.get(k) for k in ("rounds", "old_median_s", "new_median_s", "ratio",
                                         "low", "high", "verdict")}
            server_side["operations"][op].setdefault("by_connection", {})[FRESH] = fresh

    def _new_setup(self) -> dict[str, Any]:
        """The new server's set-up (server kind, workers) from its version and arguments."""
        return self._setup("to")

    def _setup(self, role: str) -> dict[str, Any]:
        """A side's server set-up (server kind, workers) from its version and arguments."""
        side = self.session.sides[role]
        return server_setup(side.version,
                            [*workers_args(side.server.workers), *side.server.server_args])

    def _diagnose(self, result: dict[str, Any]) -> list[Group]:
        """The regressions by cause; a catalogued one only where it applies to the new server
        and not to the old one."""
        old, new = self.session.sides["from"], self.session.sides["to"]
        return diagnose(result, new.version, self._setup("to"), old_version=old.version,
                        old_setup=self._setup("from"))

    def _remedy_servers(self) -> RemedyServers:
        """The remedy servers `verify_remedies` may need, to start while the data is seeded."""
        side = self.session.sides["to"]
        return RemedyServers(partial(remedy_server, side.server),
                             expected_remedies(side.version, self._new_setup(),
                                               self.session.sides["from"].version,
                                               self._setup("from")),
                             self.tuning.remedy_stop_wait_s)

    def verify_remedies(self, groups: list[Group], server_side: dict[str, Any],
                        deadline: float, remedies: RemedyServers) -> None:
        """For each cause with a remedy: the gate again, on every server-side operation that
        regressed (and, for the artifact-transfer cause, the 64 MB transfers: 2 capped rounds,
        before the main gate's own large rounds), against a server started with the remedy
        over the same database and store (from `remedies`)."""
        regressed = [op for op, item in server_side.get("operations", {}).items()
                     if item.get("verdict") == "regression"]
        for group in groups:
            if group.remedy_args and regressed:
                group.remedy_gate = self._remedy_gate(group, regressed, deadline, remedies)

    def _remedy_gate(self, group: Group, regressed: list[str], deadline: float,
                     remedies: RemedyServers) -> dict[str, Any]:
        """`group`'s remedy gate: the `regressed` operations against its remedy's server, or
        the first line of why that server would not start."""
        ops = [op for op in regressed if not BY_NAME[op].large]
        large = [op for op in self.settings.operations if BY_NAME[op].large
                 and group.signature == ARTIFACT_TRANSFER]
        began = time.monotonic()
        samples = Samples()
        index = 0
        try:
            with self.progress.phase("benchmark: verify remedy "
                                     f"{shlex.join(group.remedy_args)}"):
                server = remedies.started(group.remedy_args)
                try:
                    urls = {OLD: self.clients.urls[OLD], NEW: server.url}
                    assert self.clients.fixed
                    self.clients.call(self.clients.fixed[0], urls[OLD], "warm_workers",
                                      servers={NEW: server.url})
                    self._large_rounds(samples, large, float("inf"),
                                       rounds=self.tuning.remedy_large_rounds, urls=urls)
                    index = self._rounds_until_decided(
                        samples, ops, self.tuning.min_fast_rounds, deadline,
                        partial(self.clients.round, samples, urls=urls))
                finally:
                    server.stop()
        except HarnessError as error:  # the remedy's server would not start: say so
            return {"args": list(group.remedy_args), "error": str(error).splitlines()[0]}
        analysis = analyse(samples, self.settings)
        return {
            "args": list(group.remedy_args), "rounds": index,
            "seconds": round(time.monotonic() - began, 1),
            "still_regress": analysis["gate"]["regressions"],
            "operations": {op: {k: item.get(k) for k in
                                ("verdict", "ratio", "low", "high", "old_median_s",
                                 "new_median_s", "extrapolated")}
                           for op, item in analysis["operations"].items()}}

    def large_gate(self, server_side: dict[str, Any], deadline: float) -> None:
        """The large transfers' rounds, added to the server side's operations and gate. Run
        after every other timed round: a 64 MB download stopped at `large_cap_s` does not
        stop the server (3.4.0's WSGI bridge streams the rest for about a minute, a core
        busy), so rounds after it would be timed on a machine with one core taken."""
        large = [op for op in self.settings.operations if BY_NAME[op].large]
        if not large:
            return
        samples = Samples()
        self.failed_transfers.clear()
        with self.progress.phase(f"benchmark: {', '.join(large)}"):
            self._large_rounds(samples, large, deadline)
        operations = analyse(samples, self.settings)["operations"]
        for op, error in self.failed_transfers.items():  # kept with the rounds before it, if any
            operations[op] = {**operations.get(op, failed_operation(error)), "error": error}
        server_side["operations"].update(operations)
        server_side["gate"] = regate(server_side["operations"], self.settings)

    def _large_rounds(self, samples: Samples, large: list[str], deadline: float,
                      rounds: int | None = None, urls: dict[str, str] | None = None) -> None:
        """Up to `rounds` (default `large_rounds`) rounds of each large transfer in turn,
        uploads first, each one's first round always and a further one if it fits in the
        operation's part of what is left before `deadline`. Uploads are interleaved like the
        other operations; downloads are timed in blocks (`_download_blocks`)."""
        ordered = large_order(large)
        for position, op in enumerate(ordered):
            until = part_until(time.monotonic(), deadline, len(ordered) - position)
            wanted = rounds or self.tuning.large_rounds
            try:
                if op.startswith("download_"):
                    self._download_blocks(samples, op, wanted, until, urls)
                    continue
                self._while_fits(op, wanted, until, 1, partial(
                    self.clients.round, samples, [op], capped=True, urls=urls))
            except ClientCallError as error:  # a server that cannot move the file: say so
                self.failed_transfers[op] = str(error).splitlines()[0][:300]

    def _download_blocks(self, samples: Samples, op: str, rounds: int, until: float,
                         urls: dict[str, str] | None) -> None:
        """`rounds` downloads of `op` from the old server, then as many from the new one (the
        first always, a further one while it fits before `until`), paired in order. A
        download stopped at the cap leaves its server producing the rest of the file for
        about a minute with a core busy (3.4.0's WSGI bridge): interleaved, every download
        after a stopped one ran on one core of two, and one side always after the other's
        (with the old server first, a same-version 3.x pair could read as a regression).
        In blocks, each side's later downloads follow its own leftovers, and only the new
        side's first one can follow the old side's."""
        old = self._while_fits(op, rounds, until, DOWNLOAD_ROOM[OLD], partial(
            self.clients.timed_alone, op, OLD, urls=urls))
        new = self._while_fits(op, len(old), until, DOWNLOAD_ROOM[NEW], partial(
            self.clients.timed_alone, op, NEW, urls=urls))
        for (old_s, old_capped), (new_s, new_capped) in zip(old, new, strict=False):
            flags = [side for side, capped in ((OLD, old_capped), (NEW, new_capped)) if capped]
            samples.add({op: {OLD: old_s, NEW: new_s}}, {op: flags} if flags else None)

    def _while_fits(self, op: str, count: int, until: float, room: int,
                       once: Callable[[int], T]) -> list[T]:
        """Up to `count` rounds of `op` (`once(index)`), the first always and a further one
        while `room` times the last one's time fits before `until` (`another_fits`)."""
        done: list[T] = []
        last = 0.0
        for index in range(count):
            began = time.monotonic()
            if not another_fits(index, began, last, until, room):
                self.progress.say(f"benchmark: {index} round(s) of {op} (another needs "
                                  f"≈{last:.0f}s more than --bench-budget leaves)")
                break
            done.append(once(index))
            last = time.monotonic() - began
        return done
