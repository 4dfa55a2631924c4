"""The team's own test suite on both versions (`--project`)."""

from __future__ import annotations

from harness.config import RunConfig
from harness.phases.base import RunContext
from harness.project.run import env_builder, run_project, side_targets


class ProjectPhase:
    name = "your tests"

    def enabled(self, config: RunConfig) -> bool:
        return config.project is not None and not config.matrix.only  # a shard: cells only

    def run(self, context: RunContext) -> None:
        config, session = context.config, context.session
        assert config.project is not None
        with context.progress.phase(self.name):
            context.results.project = run_project(
                config.project, side_targets(session), session.log_dir,
                env_builder(config.cache_dir, session.log_dir))
