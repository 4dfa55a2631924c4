"""The client processes that time the rounds, and the way they reach the servers.

- **Server side**: client processes of the *old* version (the one client that works against
  both servers: a 3.x client cannot log models to a 2.x server) time every operation against
  the old and the new server in the same round, rotated by `schedule.condition`. Each timed
  call goes over a kept-alive connection that has just served a request (as in a client's
  loop of calls): the connection's state is a controlled condition, not an accident of the
  order of calls. The diagnosis re-times on new connections instead.
- **Client side** (`OwnClients`): each version's own client against the new server.
- **Latency injection**: with `--inject-latency`, the new server itself holds the chosen
  routes back (a hook loaded in the server process, `inject.py`): clients still talk to the
  servers directly, as in production. Behind proxies, the new side's proxy does it instead.
- **Capped transfers**: a 64 MB transfer still running after `large_cap_s` is stopped, on
  either side, and its sample is the time the whole file takes at the rate received so far
  (flagged extrapolated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.agent.client import Agent
from harness.bench.analysis import NEW, OLD, REUSED, Samples
from harness.bench.blobs import put_download
from harness.bench.inject import delays_file, write_delays
from harness.bench.operations import DEFAULT_ARTIFACT
from harness.bench.schedule import condition
from harness.bench.tuning import TUNING, Tuning
from harness.errors import HarnessError
from harness.proxy.service import AuthProxy
from harness.resources import client_module
from harness.runtime.shield import InterruptSafePool
from harness.runtime.waiting import outcome
from harness.session import RunSession

CLIENT_MODULE = client_module("bench")


class Clients:
    """The benchmark's client processes (the sides' own, and further ones started here), the
    servers' URLs (through proxies or not), the seeded data, and one round at a time."""

    def __init__(self, session: RunSession, use_proxies: bool = False,
                 tuning: Tuning = TUNING) -> None:
        self.session = session
        self.tuning = tuning
        self.agents: list[Agent] = []  # every client used: their temp files are removed
        self.owned: list[Agent] = []  # clients started here: stopped here
        self.proxies: dict[str, AuthProxy] = {}
        self.fixed: list[Agent] = []  # old-version client processes the rounds rotate over
        self.contexts: dict[str, Any] = {}
        self.warmed: dict[str, int] = {}  # first requests each server needed to warm its workers
        self.urls: dict[str, str] = {}
        self.use_proxies = use_proxies
        self.injected = False  # delays are in force on the new server
        self.own: OwnClients | None = None  # the client side, prepared once

    def agent(self, role: str, extra: int = 0) -> Agent:
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

    def call(self, agent: Agent, url: str, function: str, **kwargs: Any) -> Any:
        return agent.call(CLIENT_MODULE, function, timeout=self.tuning.call_timeout_s,
                          tracking_uri=url, **kwargs)

    def inject(self, routes: tuple[tuple[str, float], ...]) -> None:
        """Delays on the new server's routes: through its in-process hook (direct
        connections), or through the new side's proxy when the gate runs behind proxies."""
        if not routes and not self.injected:
            return
        self.injected = bool(routes)
        if self.use_proxies:
            self.proxy(NEW, routes)
            return
        target = delays_file(self.session.log_dir, "to")
        if routes and not target.exists():
            raise HarnessError("--inject-latency: the new server was started without the "
                               "injection hook (the session was provisioned without it)")
        if target.exists():
            write_delays(target, dict(routes))

    def proxy(self, side: str, delays: tuple[tuple[str, float], ...] = ()) -> str:
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

    def open(self, large: str) -> None:
        """Clients, proxies, the same seeded data on both servers (seeded at once, the old one
        by the first client process, the new one by the second; with the file to download of
        the `large` transfers' size, "" for none), and every server worker past its first
        (slow) request."""
        prefix = f"muh-{self.session.config.run_id}-bench"
        for side in (OLD, NEW):
            self.proxy(side)

        def seed(agent: Agent, side: str) -> Any:
            return self.call(agent, self.urls[side], "prepare", prefix=f"{prefix}-{side}",
                             large=large)

        with InterruptSafePool(max_workers=1, thread_name_prefix="bench-client") as pool:
            further = [pool.submit(self.agent, "from", n)
                       for n in range(1, self.tuning.client_processes)]
            self.fixed = [self.agent("from")]
            seeding_new = pool.submit(lambda: seed(outcome(further[0]), NEW)) if further \
                else None
            self.contexts[OLD] = seed(self.fixed[0], OLD)
            self.contexts[NEW] = outcome(seeding_new) if seeding_new else seed(self.fixed[0], NEW)
            self.fixed += [outcome(future) for future in further]
        if self.session.store is not None:  # the same ids on both: the new side's is a copy
            for side in (OLD, NEW):
                self.contexts[side].update(self.session.store.bench_context())
        if large and large != DEFAULT_ARTIFACT:
            self._put_downloads(large)
        self.warmed = self.call(self.fixed[0], self.urls[OLD], "warm_workers",
                                servers=self.urls)

    def _put_downloads(self, size: str) -> None:
        """The large file to download, put where each server keeps the run's artifacts."""
        assert self.session.s3 is not None
        for side, role in ((OLD, "from"), (NEW, "to")):
            server = self.session.sides[role].server
            put_download(self.session.s3.location, server.spec.artifacts_prefix,
                         self.contexts[side]["artifacts_path"], size)

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

    def round(self, samples: Samples, ops: list[str], index: int, capped: bool = False,
              urls: dict[str, str] | None = None, connection: str = REUSED) -> None:
        """Round `index` of `ops` on both servers (`urls`, default the phase's), under its
        condition; the timings go into `samples`."""
        assert self.fixed, "open() first"
        rule = condition(index, len(self.fixed), connection)
        urls = urls or self.urls
        got: dict[str, Any] = self.call(
            self.fixed[rule.process], urls[OLD], "run_round", servers=urls,
            contexts=self.contexts, ops=ops, first=rule.first, connection=rule.connection,
            cap_s=self.tuning.large_cap_s if capped else None)
        samples.add(got["timings"], got["extrapolated"], rule.connection, got.get("http"))

    def timed_alone(self, op: str, side: str, index: int,
                    urls: dict[str, str] | None = None) -> tuple[float, bool]:
        """One capped call of `op` against `side`'s server alone: (seconds, extrapolated)."""
        assert self.fixed, "open() first"
        urls = urls or self.urls
        rule = condition(index, len(self.fixed))
        got: dict[str, Any] = self.call(
            self.fixed[rule.process], urls[OLD], "run_round", servers={side: urls[side]},
            contexts={side: self.contexts[side]}, ops=[op], first=side,
            connection=REUSED, cap_s=self.tuning.large_cap_s)
        return got["timings"][op][side], side in got["extrapolated"].get(op, [])

    def warm_up(self, ops: list[str]) -> Samples:
        """Each operation once per client process, against the old server only: each
        process pays its first-call costs (lazy imports, caches) outside the timing. The old
        side's times are what injected delays are a fraction of."""
        warmup = Samples()
        for agent in self.fixed:
            got = self.call(agent, self.urls[OLD], "run_round", servers={OLD: self.urls[OLD]},
                            contexts={OLD: self.contexts[OLD]}, ops=ops, first=OLD)
            for op, by_side in got["timings"].items():
                warmup.old.setdefault(op, []).append(by_side[OLD])
        return warmup

    def own_clients(self) -> OwnClients:
        """Each version's own client, each with data of its own seeded on the new server
        (once: a calibration compares the client side again and again)."""
        if self.own is not None:
            return self.own
        server = self.session.sides["to"].server.url
        agents = {OLD: self.agent("from"), NEW: self.agent("to")}
        prefix = f"muh-{self.session.config.run_id}-client"
        contexts = {side: self.call(agent, server, "prepare", prefix=f"{prefix}-{side}",
                                    large="")
                    for side, agent in agents.items()}
        self.own = OwnClients(self, agents, server, contexts)
        return self.own


@dataclass
class OwnClients:
    """The client side: each version's own client (`agents`, by side) against the new
    server, in rounds alternating which goes first."""

    clients: Clients
    agents: dict[str, Agent]
    server: str
    contexts: dict[str, Any]

    def round(self, samples: Samples, ops: list[str], index: int) -> None:
        rule = condition(index, processes=1)  # kept-alive connections, first alternating
        timings: dict[str, dict[str, float]] = {op: {} for op in ops}
        http: dict[str, dict[str, Any]] = {op: {} for op in ops}
        for side in rule.order:
            got = self.clients.call(self.agents[side], self.server, "run_round",
                                    servers={side: self.server},
                                    contexts={side: self.contexts[side]}, ops=ops, first=side,
                                    connection=rule.connection)
            for op in ops:
                timings[op][side] = got["timings"][op][side]
                if op in got.get("http", {}):
                    http[op][side] = got["http"][op][side]
        samples.add(timings, connection=rule.connection, http=http)
