"""The benchmark gate: both servers timed interleaved, regressions grouped by cause."""

from __future__ import annotations

from harness.bench.memory import ServerMemory
from harness.bench.operations import OPERATIONS, with_artifact
from harness.bench.result import BenchmarkResult
from harness.bench.runner import Benchmark, BenchSettings
from harness.config import RunConfig
from harness.phases.base import RunContext
from harness.reports.pytest_benchmark import write_pytest_benchmark
from harness.session import RunSession


def operations(session: RunSession) -> tuple[str, ...]:
    """Every operation of a run; those at scale when the run has a store."""
    return tuple(op.name for op in OPERATIONS if (not op.scale or session.store is not None)
                 and not op.artifact)


def server_memory(session: RunSession) -> ServerMemory:
    """Each side's server watched while the benchmark runs (not one in a container)."""
    return ServerMemory({
        side: None if runtime.command.in_container else runtime.server.process_group
        for side, runtime in session.sides.items()})


class BenchmarkPhase:
    name = "benchmarks"

    def enabled(self, config: RunConfig) -> bool:
        return config.bench.enabled

    def run(self, context: RunContext) -> None:
        unhealthy = context.session.health_problem()
        if unhealthy:  # the scenarios already failed on it; timing a dead server is noise
            context.progress.say(f"benchmarks skipped: {unhealthy}")
            context.results.benchmark = BenchmarkResult({"skipped": unhealthy})
            return
        bench = context.config.bench
        settings = BenchSettings(budget_s=bench.budget_s, threshold=bench.threshold,
                                 inject=bench.inject,
                                 fail_on_inconclusive=bench.fail_on_inconclusive,
                                 operations=with_artifact(operations(context.session),
                                                          bench.artifact))
        with context.progress.phase(self.name), server_memory(context.session) as memory:
            data = Benchmark(context.session, settings, context.progress).run()
        data["memory"] = memory.to_dict()
        result = BenchmarkResult(data)
        data["gate"] = {"passed": result.passed}
        write_pytest_benchmark(result, context.config.out_dir)
        context.results.benchmark = result
