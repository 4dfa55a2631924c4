"""The benchmark phase: both servers at once, one fixed client, interleaved rounds, a gate.

- **Server side**: client processes of the *old* version (the one client that works against
  both servers: a 3.x client cannot log models to a 2.x server) time every operation against
  the old and the new server in the same round, rotated over the client processes and over
  which server goes first (`schedule.condition`). Each timed call goes over a
  kept-alive connection that has just served a request (as in a client's loop of calls):
  the connection's state is a controlled condition, not an accident of the order of calls.
  Operations that regress are re-timed on new connections (`retime_fresh`): slower on
  kept-alive connections only is a connection-level cause (`diagnosis.py`). With
  `--inject-latency`, the new server itself holds the chosen routes back by a known fraction
  of the old side's median time (a hook loaded in the server process, `inject.py`): clients
  still talk to the servers directly, as in production.
- **Client side**: each version's own client against the new server, rounds alternating.
- **Budget** (`schedule.py`): the calibrated gate first, then the client side, the re-timing
  on new connections and the remedies, each part to its deadline. The 64 MB transfers come
  **last**: a capped download does not stop the server. 3.4.0's WSGI bridge goes on
  streaming the rest of the file into the closed connection for about a minute with a core
  busy (measured: 1.0 CPU-s/s for 40 s after the client left), and every round timed after
  it would run on one core of two.
- **Remedy servers** (`remedies.py`) start while the data is seeded, and a catalogued cause
  whose operations regress gets the gate again against its remedy's server.
- **Capped transfers.** A 64 MB download still running after `large_cap_s` is stopped, on
  either side, and its sample is the time the whole file takes at the rate received so far
  (flagged extrapolated): 3.4.0 streams such a file at ~1 MB/s, and a minute per download
  would leave no budget for rounds that decide anything.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from harness.agent.client import Agent
from harness.bench.analysis import (
    FRESH,
    NEW,
    OLD,
    REUSED,
    Samples,
    analyse,
    regate,
    regroup,
)
from harness.bench.diagnosis import ARTIFACT_TRANSFER, Group, diagnose
from harness.bench.inject import delays_file, injected_delays, write_delays
from harness.bench.operations import ALL, BY_NAME
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
    large_order,
    part_until,
    undecided,
)
from harness.bench.tuning import TUNING, BenchSettings, Tuning
from harness.errors import HarnessError
from harness.progress import Progress
from harness.proxy.service import AuthProxy
from harness.resources import client_module
from harness.runtime.waiting import outcome
from harness.services.server_args import server_setup
from harness.session import RunSession

__all__ = [  # the phase's names, wherever they live, as other code imports them
    "CLIENT_MODULE", "FRESH", "NEW", "OLD", "REUSED", "TUNING", "BenchSettings", "Benchmark",
    "Condition", "Samples", "Tuning", "analyse", "condition", "expected_remedies",
    "injected_delays", "override_args", "regate", "regroup", "undecided",
]
CLIENT_MODULE = client_module("bench")
Play = Callable[[list[str], int], None]  # (operations, round index): time one round
T = TypeVar("T")


class Benchmark:
    """The phase on a provisioned session. `run()` does it all once; calibration calls
    `open()`, then `server_gate()` as often as it likes, then `close()`."""

    def __init__(self, session: RunSession, settings: BenchSettings, progress: Progress) -> None:
        self.session = session
        self.settings = settings
        self.progress = progress
        self.agents: list[Agent] = []  # every client used: their temp files are removed
        self.owned: list[Agent] = []  # clients started here: stopped here
        self.proxies: dict[str, AuthProxy] = {}
        self.fixed: list[Agent] = []  # old-version client processes the rounds rotate over
        self.contexts: dict[str, Any] = {}
        self.warmed: dict[str, int] = {}  # first requests each server needed to warm its workers
        self.urls: dict[str, str] = {}
        self.use_proxies = settings.proxies
        self.injected = False  # delays are in force on the new server

    @property
    def tuning(self) -> Tuning:
        return self.settings.tuning

    def _agent(self, role: str, extra: int = 0) -> Agent:
        """The side's own client process (`extra` 0): idle once the scenarios are done, and
        `import mlflow` is already paid; one is started only if the side's is gone. `extra` N
        is an N-th further process of that version, started here."""
        runtime = self.session.sides[role]
        agent = runtime.client
        if extra or not agent.started:
            suffix = f"-{extra}" if extra else ""
            agent = Agent(f"bench-{role}-{runtime.version}{suffix}", runtime.env.python,
                          self.session.log_dir
                          / f"client-bench-{role}-{runtime.version}{suffix}.log")
            self.owned.append(agent)
            agent.start()
        if agent not in self.agents:
            self.agents.append(agent)
        return agent

    def _inject(self, routes: tuple[tuple[str, float], ...]) -> None:
        """Delays on the new server's routes: through its in-process hook (direct
        connections), or through the new side's proxy when the gate runs behind proxies."""
        if not routes and not self.injected:
            return
        self.injected = bool(routes)
        if self.settings.proxies:
            self._proxy(NEW, routes)
            return
        target = delays_file(self.session.log_dir, "to")
        if routes and not target.exists():
            raise HarnessError("--inject-latency: the new server was started without the "
                               "injection hook (the session was provisioned without it)")
        if target.exists():
            write_delays(target, dict(routes))

    def _proxy(self, side: str, delays: tuple[tuple[str, float], ...] = ()) -> str:
        """(Re)start the pass-through proxy in front of `side`'s server; returns its URL."""
        role = "from" if side == OLD else "to"
        port = None
        if side in self.proxies:
            # Same port again: MLflow clients cache a run's artifact repository with its URL.
            previous = self.proxies.pop(side)
            previous.stop()
            port = previous.port
        if not self.use_proxies:
            self.urls[side] = self.session.sides[role].server.url
            return self.urls[side]
        proxy = AuthProxy(f"bench-{side}", self.session.sides[role].server.url, "",
                          self.session.log_dir, delays=delays, port=port)
        self.proxies[side] = proxy
        self.urls[side] = proxy.start().url
        return self.urls[side]

    def _call(self, agent: Agent, url: str, function: str, **kwargs: Any) -> Any:
        return agent.call(CLIENT_MODULE, function, timeout=self.tuning.call_timeout_s,
                          tracking_uri=url, **kwargs)

    def open(self) -> None:
        """Clients, proxies, the same seeded data on both servers (seeded at once, the old one
        by the first client process, the new one by the second), and every server worker past
        its first (slow) request."""
        prefix = f"muh-{self.session.config.run_id}-bench"
        large = any(BY_NAME[op].large for op in self.settings.operations)
        for side in (OLD, NEW):
            self._proxy(side)

        def seed(agent: Agent, side: str) -> Any:
            return self._call(agent, self.urls[side], "prepare", prefix=f"{prefix}-{side}",
                              large=large)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-client") as pool:
            further = [pool.submit(self._agent, "from", n)
                       for n in range(1, self.tuning.client_processes)]
            self.fixed = [self._agent("from")]
            seeding_new = pool.submit(lambda: seed(outcome(further[0]), NEW)) if further \
                else None
            self.contexts[OLD] = seed(self.fixed[0], OLD)
            self.contexts[NEW] = outcome(seeding_new) if seeding_new else seed(self.fixed[0], NEW)
            self.fixed += [outcome(future) for future in further]
        self.warmed = self._call(self.fixed[0], self.urls[OLD], "warm_workers",
                                 servers=self.urls)

    def close(self) -> None:
        for agent in self.agents:
            if agent.started:
                try:  # the agent's 1 MB / 64 MB files live in a temp folder
                    agent.call(CLIENT_MODULE, "cleanup", timeout=60)
                except HarnessError:
                    pass
        for agent in self.owned:
            agent.stop()
        for proxy in self.proxies.values():
            proxy.stop()

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
        version, setup = self.session.sides["to"].version, self._new_setup()
        groups = diagnose(result, version, setup)
        self.verify_remedies(groups, server_side, diagnosis_deadline, remedies)
        # Last: a capped 64 MB download leaves the server streaming the rest for a minute.
        self.large_gate(server_side, budget.large_until(time.monotonic()))
        result["causes"] = [group.to_dict() for group in
                            regroup(groups, diagnose(result, version, setup), server_side)]
        result["setup_s"] = round(started - began, 1)
        result["seconds"] = round(time.monotonic() - began, 1)
        return result

    def _settings(self) -> dict[str, Any]:
        """The phase's settings as the result records them."""
        return {"budget_s": self.settings.budget_s,
                "threshold": self.settings.threshold,
                "inject": [list(i) for i in self.settings.inject],
                "fixed_client": self.session.sides["from"].version,
                "client_processes": len(self.fixed),
                "connections": REUSED,
                "warm_up_requests": self.warmed,
                "through_proxies": self.use_proxies}

    def _round(self, samples: Samples, ops: list[str], index: int, capped: bool = False,
               urls: dict[str, str] | None = None, connection: str = REUSED) -> None:
        assert self.fixed, "open() first"
        rule = condition(index, len(self.fixed), connection)
        urls = urls or self.urls
        got: dict[str, Any] = self._call(
            self.fixed[rule.process], urls[OLD], "run_round", servers=urls,
            contexts=self.contexts, ops=ops, first=rule.first, connection=rule.connection,
            cap_s=self.tuning.large_cap_s if capped else None)
        samples.add(got["timings"], got["extrapolated"], rule.connection)

    def server_gate(self, deadline: float, rounds: int | None = None) -> dict[str, Any]:
        """Warm up, inject latency if asked, then interleaved rounds of every operation but the
        large transfers until `deadline` (or exactly `rounds`); analysed and gated. The large
        transfers come later, in `large_gate`."""
        settings = self.settings
        fast = [op for op in settings.operations if not BY_NAME[op].large]
        warmup = self._warm_up(fast)
        if settings.inject:  # the first calls above paid first-call costs: measure again, warm
            basis = [op for op in fast if op in dict(settings.inject) or ALL in
                     dict(settings.inject)]
            warmup = Samples()
            for _ in range(self.tuning.inject_basis_passes):
                for op, times in self._warm_up(basis).old.items():
                    warmup.old.setdefault(op, []).extend(times)
        injected, routes = injected_delays(settings, warmup)
        self._inject(routes)
        samples = Samples()
        if rounds is not None:  # calibration: exactly `rounds` rounds of everything
            for index in range(rounds):
                self._round(samples, fast, index)
            index = rounds
        else:
            index = self._rounds_until_decided(samples, fast, self.tuning.min_fast_rounds,
                                               deadline, partial(self._round, samples))
        analysis = analyse(samples, settings)
        analysis["rounds"] = index
        analysis["injected_delay_s"] = {op: round(s, 6) for op, s in injected.items()}
        return analysis

    def large_gate(self, server_side: dict[str, Any], deadline: float) -> None:
        """The large transfers' rounds, added to the server side's operations and gate. Run
        after every other timed round: a 64 MB download stopped at `large_cap_s` does not stop
        the server (3.4.0's WSGI bridge streams the rest for about a minute, a core busy), so
        rounds after it would be timed on a machine with one core taken."""
        large = [op for op in self.settings.operations if BY_NAME[op].large]
        if not large:
            return
        samples = Samples()
        with self.progress.phase(f"benchmark: {', '.join(large)}"):
            self._large_rounds(samples, large, deadline)
        server_side["operations"].update(analyse(samples, self.settings)["operations"])
        server_side["gate"] = regate(server_side["operations"], self.settings)

    def _new_setup(self) -> dict[str, Any]:
        """The new server's set-up (server kind, workers) from its version and arguments."""
        side = self.session.sides["to"]
        return server_setup(side.version,
                            [*workers_args(side.server.workers), *side.server.server_args])

    def _remedy_servers(self) -> RemedyServers:
        """The remedy servers `verify_remedies` may need, to start while the data is seeded."""
        side = self.session.sides["to"]
        return RemedyServers(partial(remedy_server, side.server),
                             expected_remedies(side.version, self._new_setup()),
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
                    urls = {OLD: self.urls[OLD], NEW: server.url}
                    assert self.fixed
                    self._call(self.fixed[0], urls[OLD], "warm_workers",
                               servers={NEW: server.url})
                    self._large_rounds(samples, large, float("inf"),
                                       rounds=self.tuning.remedy_large_rounds, urls=urls)
                    index = self._rounds_until_decided(
                        samples, ops, self.tuning.min_fast_rounds, deadline,
                        partial(self._round, samples, urls=urls))
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

    def _rounds_until_decided(self, samples: Samples, ops: list[str], minimum: int,
                              deadline: float, play: Play) -> int:
        """`minimum` rounds of `ops`, then rounds of the still undecided ones until `deadline`
        (`schedule.Rounds`), each timed by `play`; returns the number of rounds."""
        loop = Rounds(minimum, deadline, self.settings.threshold, self.tuning)
        index = 0
        while chosen := loop.next(samples, ops, index, time.monotonic()):
            play(chosen, index)
            index += 1
        return index

    def _warm_up(self, ops: list[str]) -> Samples:
        """Each operation once per client process, against the old server only: each
        process pays its first-call costs (lazy imports, caches) outside the timing. The old
        side's times are what injected delays are a fraction of."""
        warmup = Samples()
        for agent in self.fixed:
            got = self._call(agent, self.urls[OLD], "run_round", servers={OLD: self.urls[OLD]},
                             contexts={OLD: self.contexts[OLD]}, ops=ops, first=OLD)
            for op, by_side in got["timings"].items():
                warmup.old.setdefault(op, []).append(by_side[OLD])
        return warmup

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
                                       partial(self._round, samples, connection=FRESH))
        for op, item in analyse(samples, self.settings)["operations"].items():
            fresh = item["by_connection"].get(FRESH) or {
                k: item.get(k) for k in ("rounds", "old_median_s", "new_median_s", "ratio",
                                         "low", "high", "verdict")}
            server_side["operations"][op].setdefault("by_connection", {})[FRESH] = fresh

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
            if op.startswith("download_"):
                self._download_blocks(samples, op, wanted, until, urls)
                continue
            self._while_fits(op, wanted, until, 1, partial(
                self._round, samples, [op], capped=True, urls=urls))

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
            self._timed_alone, op, OLD, urls=urls))
        new = self._while_fits(op, len(old), until, DOWNLOAD_ROOM[NEW], partial(
            self._timed_alone, op, NEW, urls=urls))
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

    def _timed_alone(self, op: str, side: str, index: int,
                     urls: dict[str, str] | None = None) -> tuple[float, bool]:
        """One capped call of `op` against `side`'s server alone: (seconds, extrapolated)."""
        assert self.fixed, "open() first"
        urls = urls or self.urls
        rule = condition(index, len(self.fixed))
        got: dict[str, Any] = self._call(
            self.fixed[rule.process], urls[OLD], "run_round", servers={side: urls[side]},
            contexts={side: self.contexts[side]}, ops=[op], first=side,
            connection=REUSED, cap_s=self.tuning.large_cap_s)
        return got["timings"][op][side], side in got["extrapolated"].get(op, [])

    def _client_side(self, deadline: float) -> dict[str, Any]:
        """Each version's own client against the new server, alternating by round."""
        server = self.session.sides["to"].server.url
        clients = {OLD: self._agent("from"), NEW: self._agent("to")}
        prefix = f"muh-{self.session.config.run_id}-client"
        contexts = {side: self._call(agent, server, "prepare", prefix=f"{prefix}-{side}",
                                     large=False)
                    for side, agent in clients.items()}
        ops = [op for op in self.settings.operations if BY_NAME[op].client_side]
        samples = Samples()

        def play(chosen: list[str], index: int) -> None:
            rule = condition(index, processes=1)  # kept-alive connections, first alternating
            timings: dict[str, dict[str, float]] = {op: {} for op in chosen}
            for side in rule.order:
                got = self._call(clients[side], server, "run_round", servers={side: server},
                                 contexts={side: contexts[side]}, ops=chosen, first=side,
                                 connection=rule.connection)
                for op in chosen:
                    timings[op][side] = got["timings"][op][side]
            samples.add(timings, connection=rule.connection)

        index = self._rounds_until_decided(samples, ops, self.tuning.min_fast_rounds, deadline,
                                           play)
        analysis = analyse(samples, self.settings)
        analysis["rounds"] = index
        return analysis
