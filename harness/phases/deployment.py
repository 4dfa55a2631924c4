"""Each side as deployed (harness/deploy/): before the scenarios, whether each public URL reaches
its server and how the two deployments differ; after them (and your tests), each server's
health under the run, as one finding per troubled server with the checks it touched re-run."""

from __future__ import annotations

from harness.config import RunConfig
from harness.deploy.drift import described, drift
from harness.deploy.health import answers_again
from harness.deploy.reach import probe
from harness.deploy.rerun import finding_for, rerun_with_remedy, touched
from harness.deploy.result import DeploymentResult
from harness.phases.base import RunContext


class DeploymentPhase:
    """Before the scenarios: the public URLs probed (a refused one sends its side's scenarios
    by 127.0.0.1), and the drift."""

    name = "deployment"

    def enabled(self, config: RunConfig) -> bool:
        return any(side.deployment.described for side in config.sides)

    def run(self, context: RunContext) -> None:
        session, results = context.session, context.results
        with context.progress.phase(self.name):
            result = DeploymentResult(sides=[described(side) for side in context.config.sides])
            versions = (session.sides["from"].version, session.sides["to"].version)
            result.drift = drift(result.sides[0], result.sides[1], versions)
            for side in session.sides.values():
                found = probe(side)
                if found is None:
                    continue
                reach, check = found
                result.reach.append(reach)
                results.checks.append(check)  # the scenarios' checks come after it
                if check.message:
                    context.progress.note(f"deployment {side.role}: {check.message}")
        results.deployment = result


class ServerHealthPhase:
    """After the scenarios and your tests, before the benchmark (whose timings no poll may
    disturb): each server's health as one finding, the checks it touched re-run."""

    name = "server health"

    def enabled(self, config: RunConfig) -> bool:
        return True

    def run(self, context: RunContext) -> None:
        session, results = context.session, context.results
        for role, side in session.sides.items():
            if side.monitor is None:
                continue
            side.monitor.stop()  # nothing polls the servers while they are timed
            seen = side.monitor.watch()
            if not seen.troubled or not side.server.alive():
                continue  # a server that exited: the checks it failed say so
            finding = finding_for(side, seen)
            recovered = seen.answering or answers_again(side.server)
            if not recovered:
                finding.cause += "; it did not answer again after the scenarios: nothing re-run"
            affected = touched(results.checks, role) if recovered else []
            if affected:
                with context.progress.phase(f"re-check {len(affected)} on {role} with remedy"):
                    again = {c.test: c for c in rerun_with_remedy(
                        session, context.config, role, finding, affected)}
                tests = {c.test for c in affected}
                results.checks = [again.get(c.test, c) if c.test in tests else c
                                  for c in results.checks]
            context.progress.note(f"server health: {finding.line()}")
            if results.deployment is None:
                results.deployment = DeploymentResult()
            results.deployment.health.append(finding)
