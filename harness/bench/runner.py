"""The benchmark phase: both servers at once, one fixed client, interleaved rounds, a gate.

- **Server side**: one client process of the *old* version (the one client that works against
  both servers: a 3.x client cannot log models to a 2.x server) times every operation against
  the old and the new server in the same round, the first server alternating from round to
  round. Both servers sit behind identical pass-through proxies, so the proxy's cost is the same
  on both sides; `--inject-latency` makes the new side's proxy hold chosen routes back by a
  known fraction of the old side's median time.
- **Client side**: each version's own client against the new server, rounds alternating.
- Fast operations get rounds until the time budget is used (at least `MIN_FAST_ROUNDS`);
  64 MB transfers get `LARGE_ROUNDS` rounds of their own.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from harness.agent.client import Agent
from harness.bench.operations import ALL, BY_NAME, OPERATIONS
from harness.bench.stats import Comparison, Verdict, compare, median_rule_fails
from harness.errors import HarnessError
from harness.progress import Progress
from harness.proxy.service import AuthProxy
from harness.session import RunSession

CLIENT_MODULE = Path(__file__).resolve().parents[2] / "scenarios" / "clients" / "bench.py"
MIN_FAST_ROUNDS = 8
MAX_FAST_ROUNDS = 60
LARGE_ROUNDS = 2
WARMUP_ROUNDS = 2
CLIENT_SHARE = 0.25  # of the budget, for the client-side comparison
CALL_TIMEOUT_S = 900.0
OLD, NEW = "old", "new"


@dataclass(frozen=True)
class BenchSettings:
    budget_s: float = 180.0
    threshold: float = 0.20
    inject: tuple[tuple[str, float], ...] = ()
    fail_on_inconclusive: bool = False
    operations: tuple[str, ...] = tuple(op.name for op in OPERATIONS)
    large_rounds: int = LARGE_ROUNDS
    client_side: bool = True


@dataclass
class Samples:
    """Seconds per operation and side, in round order (index i of old and new: one round)."""

    old: dict[str, list[float]] = field(default_factory=dict)
    new: dict[str, list[float]] = field(default_factory=dict)

    def add(self, timings: dict[str, dict[str, float]]) -> None:
        for op, by_side in timings.items():
            self.old.setdefault(op, []).append(by_side[OLD])
            self.new.setdefault(op, []).append(by_side[NEW])


def injected_delays(
    settings: BenchSettings, warmup: Samples
) -> tuple[dict[str, float], tuple[tuple[str, float], ...]]:
    """Per injected operation, a fixed delay = fraction × the old side's warm-up median; and
    the proxy's route → delay table."""
    per_op: dict[str, float] = {}
    for name, fraction in settings.inject:
        targets = [op for op in settings.operations if BY_NAME[op].routes] if name == ALL \
            else [name]
        for op in targets:
            if op in warmup.old:
                per_op[op] = fraction * median(warmup.old[op])
    routes = tuple((route, seconds) for op, seconds in per_op.items()
                   for route in BY_NAME[op].routes)
    return per_op, routes


def gate(comparisons: dict[str, Comparison], settings: BenchSettings) -> dict[str, Any]:
    regressions = sorted(op for op, c in comparisons.items() if c.verdict is Verdict.REGRESSION)
    inconclusive = sorted(op for op, c in comparisons.items()
                          if c.verdict is Verdict.INCONCLUSIVE)
    failed = bool(regressions) or (settings.fail_on_inconclusive and bool(inconclusive))
    return {"passed": not failed, "regressions": regressions, "inconclusive": inconclusive,
            "threshold": settings.threshold,
            "fail_on_inconclusive": settings.fail_on_inconclusive}


def analyse(samples: Samples, settings: BenchSettings) -> dict[str, Any]:
    comparisons = {op: compare(samples.old[op], samples.new[op], settings.threshold)
                   for op in samples.old if len(samples.old[op]) >= 2}
    return {
        "operations": {
            op: {**_plain(c), "description": c.describe(settings.threshold),
                 "median_rule_fails": median_rule_fails(samples.old[op], samples.new[op],
                                                        settings.threshold),
                 "samples": {OLD: samples.old[op], NEW: samples.new[op]}}
            for op, c in comparisons.items()
        },
        "gate": gate(comparisons, settings),
    }


def _plain(comparison: Comparison) -> dict[str, Any]:
    data = asdict(comparison)
    data["verdict"] = comparison.verdict.value
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in data.items()}


class Benchmark:
    """Runs the phase on a provisioned session; `run()` returns the JSON-able result."""

    def __init__(self, session: RunSession, settings: BenchSettings, progress: Progress) -> None:
        self.session = session
        self.settings = settings
        self.progress = progress
        self.agents: list[Agent] = []
        self.proxies: list[AuthProxy] = []

    def _agent(self, role: str) -> Agent:
        runtime = self.session.sides[role]
        agent = Agent(f"bench-{role}-{runtime.version}", runtime.env.python,
                      self.session.log_dir / f"client-bench-{role}-{runtime.version}.log")
        self.agents.append(agent)
        return agent.start()

    def _proxy(self, label: str, upstream: str,
               delays: tuple[tuple[str, float], ...] = ()) -> AuthProxy:
        proxy = AuthProxy(f"bench-{label}", upstream, "", self.session.log_dir, delays=delays)
        self.proxies.append(proxy)
        return proxy.start()

    def _call(self, agent: Agent, url: str, function: str, **kwargs: Any) -> Any:
        return agent.call(CLIENT_MODULE, function, timeout=CALL_TIMEOUT_S, tracking_uri=url,
                          **kwargs)

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        finally:
            for agent in self.agents:
                if agent.started:
                    try:  # the agent's 1 MB / 64 MB files live in a temp folder
                        agent.call(CLIENT_MODULE, "cleanup", timeout=60)
                    except HarnessError:
                        pass
                agent.stop()
            for proxy in self.proxies:
                proxy.stop()

    def _run(self) -> dict[str, Any]:
        settings, sides = self.settings, self.session.sides
        started = time.monotonic()
        deadline = started + settings.budget_s * (1 - CLIENT_SHARE if settings.client_side
                                                  else 1)
        fixed = self._agent("from")
        urls = {OLD: self._proxy("old", sides["from"].server.url).url,
                NEW: self._proxy("new", sides["to"].server.url).url}
        prefix = f"muh-{self.session.config.run_id}-bench"
        contexts = {side: self._call(fixed, url, "prepare", prefix=f"{prefix}-{side}")
                    for side, url in urls.items()}
        fast = [op for op in settings.operations if not BY_NAME[op].large]
        large = [op for op in settings.operations if BY_NAME[op].large]

        def one_round(ops: list[str], index: int) -> dict[str, dict[str, float]]:
            first = OLD if index % 2 == 0 else NEW
            timings: dict[str, dict[str, float]] = self._call(
                fixed, urls[OLD], "run_round", servers=urls, contexts=contexts, ops=ops,
                first=first)
            return timings

        warmup = Samples()
        for index in range(WARMUP_ROUNDS):
            warmup.add(one_round(fast, index))
        injected: dict[str, float] = {}
        if settings.inject:
            injected, routes = injected_delays(settings, warmup)
            self.proxies[1].stop()
            urls[NEW] = self._proxy("new-delayed", sides["to"].server.url, routes).url
        samples = Samples()
        self.progress.say(f"benchmark: {len(fast)} operations, interleaved rounds")
        index = 0
        while index < MAX_FAST_ROUNDS and (index < MIN_FAST_ROUNDS or
                                           time.monotonic() < deadline):
            samples.add(one_round(fast, index))
            index += 1
            if index == MIN_FAST_ROUNDS and large:
                for large_index in range(settings.large_rounds):
                    samples.add(one_round(large, large_index))
        server = analyse(samples, settings)
        server["rounds"] = index
        server["injected_delay_s"] = {op: round(s, 6) for op, s in injected.items()}
        result: dict[str, Any] = {
            "settings": {"budget_s": settings.budget_s, "threshold": settings.threshold,
                         "inject": [list(i) for i in settings.inject],
                         "fixed_client": sides["from"].version},
            "server_side": server,
        }
        if settings.client_side:
            result["client_side"] = self._client_side(started + settings.budget_s)
        result["seconds"] = round(time.monotonic() - started, 1)
        return result

    def _client_side(self, deadline: float) -> dict[str, Any]:
        """Each version's own client against the new server, alternating by round."""
        server = self.session.sides["to"].server.url
        clients = {OLD: self._agent("from"), NEW: self._agent("to")}
        prefix = f"muh-{self.session.config.run_id}-client"
        contexts = {side: self._call(agent, server, "prepare", prefix=f"{prefix}-{side}")
                    for side, agent in clients.items()}
        ops = [op for op in self.settings.operations if BY_NAME[op].client_side]
        samples = Samples()
        index = 0
        while index < MAX_FAST_ROUNDS and (index < MIN_FAST_ROUNDS or
                                           time.monotonic() < deadline):
            order = [OLD, NEW] if index % 2 == 0 else [NEW, OLD]
            timings: dict[str, dict[str, float]] = {op: {} for op in ops}
            for side in order:
                got = self._call(clients[side], server, "run_round", servers={side: server},
                                 contexts={side: contexts[side]}, ops=ops, first=side)
                for op in ops:
                    timings[op][side] = got[op][side]
            samples.add(timings)
            index += 1
        analysis = analyse(samples, self.settings)
        analysis["rounds"] = index
        return analysis
