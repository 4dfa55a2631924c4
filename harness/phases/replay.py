"""The team's recorded traffic, replayed against two old servers and the new one (`--replay`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.config import RunConfig
from harness.phases.base import RunContext
from harness.results.phase import Upgrade
from harness.runtime.ports import LOOPBACK
from harness.session import RunSession
from harness.traffic.exchange import Exchange
from harness.traffic.importers import ACCESS_LOG, ACCESS_LOG_LACKS, read_traffic
from harness.traffic.replay import Replay, ReplayLimits
from harness.traffic.result import TrafficResult
from harness.traffic.servers import ReplayServers
from harness.traffic.transport import HttpTarget, Target


class ReplayPhase:
    name = "your traffic"

    def enabled(self, config: RunConfig) -> bool:
        return bool(config.traffic.files)

    def run(self, context: RunContext) -> None:
        unhealthy = context.session.health_problem()
        if unhealthy:
            context.progress.say(f"your traffic not replayed: {unhealthy}")
            context.results.traffic = TrafficResult({"skipped": unhealthy})
            return
        with context.progress.phase(self.name):
            result = replay_traffic(context.session, context.config, context.progress.say)
        context.results.traffic = result
        context.progress.say(result.headline())


def _exchanges(files: tuple[Path, ...]) -> Iterator[Exchange]:
    for path in files:
        yield from read_traffic(path)


def replay_traffic(session: RunSession, config: RunConfig, say: Any) -> TrafficResult:
    traffic = config.traffic
    old, new = session.sides["from"].version, session.sides["to"].version
    with ReplayServers(session, config.scenarios.from_dump, traffic.faults) as started:
        targets: dict[str, Target] = {
            role: HttpTarget(role, LOOPBACK, server.port)
            for role, server in started.servers.items()}
        replay = Replay(targets, config.bench.threshold,
                        ReplayLimits(traffic.requests, traffic.timeout_s), say)
        replay.run(_exchanges(traffic.files))
    data = replay.summary(Upgrade(old, new))
    data["recording"] = {
        "files": [str(path) for path in traffic.files], "kinds": list(traffic.kinds),
        "lacks": ACCESS_LOG_LACKS if ACCESS_LOG in traffic.kinds else ""}
    data["servers"] = {"a": old, "b": old, "new": new,
                       "starting_state": "--from-dump" if config.scenarios.from_dump
                       else "an empty database (the recording's own writes build the state)",
                       **started.timings}
    data["faults"] = [f"{route}={field}" for route, field in traffic.faults]
    return TrafficResult(data)
