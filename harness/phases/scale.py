"""At your scale: the store, the migration's downtime, the slowest searches and the servers'
memory, put together once the scenarios (the migration drill) and the benchmark have run."""

from __future__ import annotations

from harness.config import RunConfig
from harness.phases.base import RunContext
from harness.scale.profile import describe
from harness.scale.result import ScaleResult


class ScalePhase:
    name = "at your scale"

    def enabled(self, config: RunConfig) -> bool:
        return True  # it only composes: a run without a drill or a benchmark gets nothing

    def run(self, context: RunContext) -> None:
        from harness.reports.sections import migration_observations

        store = context.session.store
        observed = migration_observations(context.results)
        benchmark = context.results.benchmark
        if store is None and "upgrade" not in observed and benchmark is None:
            return
        facts = store.facts if store is not None else {
            "size": None, "described": describe(context.config.scenarios.scale)}
        context.results.scale = ScaleResult.compose(
            facts, observed, benchmark.to_dict() if benchmark is not None else None)
