"""The benchmark gate: both servers timed interleaved, regressions grouped by cause."""

from __future__ import annotations

from harness.bench.result import BenchmarkResult
from harness.bench.runner import Benchmark, BenchSettings
from harness.config import RunConfig
from harness.phases.base import RunContext
from harness.reports.pytest_benchmark import write_pytest_benchmark


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
                                 fail_on_inconclusive=bench.fail_on_inconclusive)
        with context.progress.phase(self.name):
            data = Benchmark(context.session, settings, context.progress).run()
        result = BenchmarkResult(data)
        data["gate"] = {"passed": result.passed}
        write_pytest_benchmark(result, context.config.out_dir)
        context.results.benchmark = result
