"""Runs the scenario modules with pytest against a provisioned session: in concurrent lanes
(forks, harness/lanes.py) or in-process (--sequential)."""

from __future__ import annotations

import io
import os
import signal
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from harness import plugin
from harness.agent.client import Agent
from harness.catalog.classify import EXPECTED, FINDING, explain, finding, use_team_catalog
from harness.config import RunConfig
from harness.lanes import (
    CROSS_LANE,
    LaneDispatcher,
    LaneFilter,
    LaneResult,
    RelayProgress,
    fork_lane,
    fresh_clients,
    in_collection_order,
    lanes_of,
    part_of,
    role_of,
)
from harness.matrix import blocking_failures
from harness.plugin import Collector, SessionInjector
from harness.resources import builtin_scenarios
from harness.results.model import CheckResult, DiffEntry, Status
from harness.results.normalize import diff
from harness.runtime.processes import REGISTRY
from harness.session import RunSession

PYTEST_LINES = 30  # of pytest's own output, shown when it could not run the scenarios


@dataclass
class ScenarioOutcome:
    checks: list[CheckResult] = field(default_factory=list)
    diff: list[DiffEntry] = field(default_factory=list)
    interrupted: bool = False
    usage_error: str = ""

    @property
    def all_passed(self) -> bool:
        """Something ran and nothing failed, except in advisory matrix cells (a client newer
        than its server)."""
        return bool(self.checks) and not blocking_failures(self.checks)


def scenarios_dir() -> Path:
    return builtin_scenarios()


def scenario_folders(config: RunConfig) -> list[Path]:
    """The built-in scenarios (unless --no-builtin), then the team's (--scenarios)."""
    return ([scenarios_dir()] if config.scenarios.builtin else []) + list(config.scenarios.dirs)


def pytest_args(config: RunConfig) -> list[str]:
    folders = scenario_folders(config)
    # Node ids (and so the catalog's test patterns) stay relative to the built-in folder.
    root = folders[0] if config.scenarios.builtin else Path(os.path.commonpath(folders))
    ini = resources.files("harness").joinpath("scenario_pytest.ini")
    args = [
        *map(str, folders),
        "-p", "no:cacheprovider",
        "-c", str(ini),
        "--rootdir", str(root),
        "--import-mode=importlib",
        "--no-header",
        "-q",
        "--tb=short",  # kept in each check's details
        "-rN",
    ]
    if config.scenarios.select:
        args += ["-k", config.scenarios.select]
    return args + list(config.scenarios.pytest_args)


def run_scenarios(session: RunSession, config: RunConfig) -> ScenarioOutcome:
    """Every selected scenario on every side and cell: in concurrent lanes (harness/lanes.py),
    or one after the other in this process with --sequential (or where fork is missing)."""
    if config.scenarios.sequential or not hasattr(os, "fork"):
        return _in_process(session, config)
    return _in_lanes(session, config)


def _pytest(session: RunSession, config: RunConfig,
            extra: list[object]) -> tuple[int, Collector, list[str]]:
    """One pytest session over the scenarios; its exit code, collector and the last lines of
    its output when it could not run them."""
    injector = SessionInjector(session)
    # pytest's own terminal output (dots, sections) is kept off the console: the run's progress
    # says what runs and one line per check that did not pass (SessionInjector).
    output = io.StringIO()
    use_team_catalog(config.scan.catalog.read_text() if config.scan.catalog else None)
    # Registered as `harness.plugin`, the name of its pytest11 entry point, which pytest then
    # skips (it would otherwise be registered twice).
    with redirect_stdout(output):
        code = pytest.main(pytest_args(config), plugins=[plugin, injector, *extra])
    collector: Collector = injector.collector
    said: list[str] = []
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR) or (
            code == pytest.ExitCode.INTERRUPTED and not collector.interrupted):
        said = output.getvalue().strip().splitlines()[-PYTEST_LINES:]  # why it could not run
    return int(code), collector, said


class _Only:
    """Keeps the tests whose node ids are listed (a re-run of some checks)."""

    def __init__(self, tests: list[str]) -> None:
        self.tests = set(tests)

    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        drop = [item for item in items if item.nodeid not in self.tests]
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = [item for item in items if item.nodeid in self.tests]


def run_selected(session: RunSession, config: RunConfig, tests: list[str]) -> list[CheckResult]:
    """The checks of `tests` (node ids) once more, in this process, against the session as it
    is now (harness/deploy/rerun.py swaps a server for one with a remedy first)."""
    _code, collector, _said = _pytest(session, config, [_Only(tests)])
    return collector.checks


def _in_process(session: RunSession, config: RunConfig) -> ScenarioOutcome:
    code, collector, said = _pytest(session, config, [])
    for line in said:
        session.progress.note(line)
    outcome = ScenarioOutcome(checks=collector.checks, interrupted=collector.interrupted)
    _judge_exit(outcome, [code], config)
    outcome.diff = cross_version_diff(outcome.checks)
    return outcome


def _judge_exit(outcome: ScenarioOutcome, codes: list[int], config: RunConfig) -> None:
    """The outcome of pytest's exit code(s): one per lane; no lane collecting anything is a
    selection that matched nothing."""
    if pytest.ExitCode.INTERRUPTED in codes:
        outcome.interrupted = True
    elif all(code == pytest.ExitCode.NO_TESTS_COLLECTED for code in codes):
        outcome.usage_error = f"no scenario matched -k {config.scenarios.select!r}"
    elif failed := [c for c in codes if c in (pytest.ExitCode.USAGE_ERROR,
                                                pytest.ExitCode.INTERNAL_ERROR) or c < 0]:
        outcome.usage_error = f"pytest could not run the scenarios (exit {failed[0]})"


def _in_lanes(session: RunSession, config: RunConfig) -> ScenarioOutcome:
    roles = [*session.sides, *session.extra_clients]
    lanes = [fork_lane(name, partial(_lane, session, config, name, roles))
             for name in lanes_of(roles)]
    dispatcher = LaneDispatcher(lanes, session.progress)
    results, interrupted = dispatcher.run()
    for result in results:
        session.progress.durations[f"scenarios: lane {result.lane}"] = result.seconds
        for line in result.output:
            session.progress.note(f"[{result.lane}] {line}")
    for lane, crash in dispatcher.crashes.items():
        session.progress.note(f"scenario lane {lane} crashed: {crash.strip().splitlines()[-1]}")
    order: dict[str, int] = {}
    for result in results:
        order.update(result.order)
    checks = in_collection_order([c for r in results for c in r.checks], order)
    outcome = ScenarioOutcome(checks=checks, interrupted=interrupted or any(
        r.interrupted for r in results))
    _judge_exit(outcome, [r.code for r in results], config)
    if dispatcher.crashes and not outcome.usage_error and not outcome.interrupted:
        outcome.usage_error = "a scenario lane crashed: " + ", ".join(sorted(dispatcher.crashes))
    outcome.diff = cross_version_diff(outcome.checks)
    return outcome


def _lane(session: RunSession, config: RunConfig, lane: str, roles: list[str],
          connection: Connection) -> LaneResult:
    """In the forked lane: pytest on the lane's share, its progress relayed to the parent. The
    cross lane gets client processes of its own, and so does a role's lane after its first
    (the first lane of each role drives the session's)."""
    session.progress = RelayProgress(connection, lane)
    own: list[Agent] = []

    def selected(items: list[pytest.Item]) -> None:
        if lane == CROSS_LANE:
            needed, prefix = roles, "cross"
        elif part_of(lane) > 1:
            needed, prefix = [role_of(lane)], f"part{part_of(lane)}"
        else:
            return
        fresh = fresh_clients({role: session.client(role).client for role in needed}, prefix)
        for role, agent in fresh.items():
            session.client(role).client = agent
            own.append(agent)

    share = LaneFilter(lane, plugin.side_of, selected)
    try:
        code, collector, said = _pytest(session, config, [share])
    finally:
        # The parent's SIGTERM (an interrupt) is meant for the tests: from here on the lane
        # only cleans up and reports, and exits before a deferred one could be delivered.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        for agent in own:
            agent.stop()
        REGISTRY.stop_everything()
    return LaneResult(lane, code, collector.checks, share.order, collector.interrupted, said)


def cross_version_diff(checks: list[CheckResult]) -> list[DiffEntry]:
    """Pair each test's `from` and `to` results, diff their observations, classify each."""
    by_test: dict[str, dict[str, CheckResult]] = {}
    for check in checks:
        by_test.setdefault(check.case or check.test, {})[check.side] = check
    entries = []
    for test, pair in sorted(by_test.items()):
        if "from" not in pair or "to" not in pair:
            continue
        old, new = pair["from"], pair["to"]
        if old.status is not Status.PASSED or new.status is not Status.PASSED:
            continue  # a failing side is reported as a failure, not as a difference
        for path, a, b in diff(old.observations, new.observations):
            entry = DiffEntry(test, path, a, b, scenario=old.scenario)
            documented = explain(
                old.scenario, path, a, b, old.mlflow_version, new.mlflow_version
            )
            reported = finding(old.scenario, path, a, b)
            if documented is not None:
                entry.classification = EXPECTED
                entry.catalog_id = documented.id
                entry.summary = documented.summary
                entry.source = documented.source
            elif reported is not None:
                entry.classification = FINDING
                entry.catalog_id = reported.id
                entry.summary = reported.summary
            entries.append(entry)
    return entries
