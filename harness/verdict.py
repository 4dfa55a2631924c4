"""The one-line answer, and its reasons: safe to upgrade, safe with caveats, or not safe.

Each phase's typed result says what in it blocks the upgrade and what is a caveat
(`harness/results/phase.py`); the verdict composes them, in the order a reader acts on them:
the deployment (a public URL refused, the servers' health, drift), your code, your tests, your
replayed traffic, the scenarios (checks, matrix, differences), the benchmark, the store's size
(the migration's downtime). It is the
only place a completed run's status comes from (`conclude`).

- **not safe**: something blocks (a required check failed, behaviour changed without
  documentation, your code or tests break, an operation got slower than the threshold);
- **safe with caveats**: nothing blocks, but something needs a decision;
- **safe**: none of the above;
- **no verdict**: the run did not complete (usage or infrastructure error, interrupt).
"""

from __future__ import annotations

from harness.matrix import summarize
from harness.results.checks import ScenarioChecks
from harness.results.model import Level, RunResults, RunStatus, Verdict
from harness.results.phase import PhaseResult, Upgrade

NO_BENCHMARK = "performance not measured (--no-bench)"


def phase_results(results: RunResults) -> list[PhaseResult]:
    """The results that have a say, in the verdict's order."""
    present: list[PhaseResult | None] = [
        results.deployment, results.scan, results.project, results.traffic,
        ScenarioChecks(results.checks, results.diff, results.matrix), results.benchmark,
        results.scale]
    return [result for result in present if result is not None]


def upgrade_of(results: RunResults) -> Upgrade:
    versions = [side.mlflow_version for side in results.sides[:2]] + ["", ""]
    return Upgrade(versions[0], versions[1])


def decide(results: RunResults) -> Verdict:
    if not results.completed:
        first = results.error.splitlines()[0] if results.error else results.status.value
        return Verdict(Level.NO_VERDICT, [f"The run did not complete: {first}"])
    upgrade = upgrade_of(results)
    phases = phase_results(results)
    blocking = [reason for phase in phases for reason in phase.blocking(upgrade)]
    caveats = [reason for phase in phases for reason in phase.caveats(upgrade)]
    if results.benchmark is None:
        caveats.append(NO_BENCHMARK)
    if blocking:
        return Verdict(Level.NOT_SAFE, blocking + caveats)
    return Verdict(Level.CAVEATS if caveats else Level.SAFE, caveats)


def conclude(results: RunResults) -> Verdict:
    """The matrix and the verdict derived from the results, and a completed run's status
    from the verdict: failed when not safe, passed otherwise. Runs and merges alike."""
    results.matrix = summarize(results.checks)
    verdict = decide(results)
    results.verdict = verdict
    if results.completed:
        results.status = RunStatus.FAILED if verdict.level is Level.NOT_SAFE \
            else RunStatus.PASSED
    return verdict
