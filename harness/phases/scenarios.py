"""The scenarios on both sides and in every matrix cell, and the old-vs-new diff."""

from __future__ import annotations

from harness.config import RunConfig
from harness.phases.base import RunContext
from harness.scenarios_runner import run_scenarios
from harness.team import scenario_names


class ScenariosPhase:
    name = "scenarios"

    def enabled(self, config: RunConfig) -> bool:
        return True

    def run(self, context: RunContext) -> None:
        config, results = context.config, context.results
        results.team_scenarios = sorted(
            name for folder in config.scenarios.dirs for name in scenario_names(folder))
        with context.progress.phase(self.name):
            outcome = run_scenarios(context.session, config)
        results.checks = [*results.checks, *outcome.checks]  # after the deployment's
        results.diff = outcome.diff
        if outcome.interrupted:
            raise KeyboardInterrupt
        if outcome.usage_error:
            context.stop(outcome.usage_error)
