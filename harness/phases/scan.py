"""The breaking-change scan of the team's code (`--scan`, or `--project`'s repository)."""

from __future__ import annotations

from harness.config import RunConfig
from harness.phases.base import RunContext
from harness.scan.command import scan_envs


class ScanPhase:
    name = "scan"

    def enabled(self, config: RunConfig) -> bool:
        return bool(config.scan.paths)

    def run(self, context: RunContext) -> None:
        session, config = context.session, context.config
        with context.progress.phase(self.name):
            report = scan_envs(config.scan.paths, session.client("from").env,
                               session.client("to").env, config.cache_dir, config.scan.catalog)
        context.results.scan = report
        context.progress.say(report.headline())
