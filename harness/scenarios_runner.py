"""Runs the scenario modules with pytest, in-process, against a provisioned session."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pytest

import scenarios
from harness import plugin
from harness.catalog.classify import EXPECTED, FINDING, explain, finding, use_team_catalog
from harness.config import RunConfig
from harness.matrix import blocking_failures
from harness.plugin import Collector, SessionInjector
from harness.results.model import CheckResult, DiffEntry, Status
from harness.results.normalize import diff
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
    return Path(scenarios.__file__).resolve().parent


def scenario_folders(config: RunConfig) -> list[Path]:
    """The built-in scenarios (unless --no-builtin), then the team's (--scenarios)."""
    return ([scenarios_dir()] if config.builtin else []) + list(config.scenario_dirs)


def pytest_args(config: RunConfig) -> list[str]:
    folders = scenario_folders(config)
    # Node ids (and so the catalog's test patterns) stay relative to the built-in folder.
    root = folders[0] if config.builtin else Path(os.path.commonpath(folders))
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
    if config.select:
        args += ["-k", config.select]
    return args


def run_scenarios(session: RunSession, config: RunConfig) -> ScenarioOutcome:
    injector = SessionInjector(session)
    # pytest's own terminal output (dots, sections) is kept off the console: the run's progress
    # says what runs and one line per check that did not pass (SessionInjector).
    output = io.StringIO()
    use_team_catalog(config.catalog.read_text() if config.catalog else None)
    # Registered as `harness.plugin`, the name of its pytest11 entry point, which pytest then
    # skips (it would otherwise be registered twice).
    with redirect_stdout(output):
        code = pytest.main(pytest_args(config), plugins=[plugin, injector])
    collector: Collector = injector.collector
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR) or (
            code == pytest.ExitCode.INTERRUPTED and not collector.interrupted):
        for line in output.getvalue().strip().splitlines()[-PYTEST_LINES:]:
            session.progress.note(line)  # why pytest could not run them
    outcome = ScenarioOutcome(checks=collector.checks, interrupted=collector.interrupted)
    if code == pytest.ExitCode.INTERRUPTED:
        outcome.interrupted = True
    elif code == pytest.ExitCode.NO_TESTS_COLLECTED:
        outcome.usage_error = f"no scenario matched -k {config.select!r}"
    elif code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        outcome.usage_error = f"pytest could not run the scenarios (exit {int(code)})"
    outcome.diff = cross_version_diff(outcome.checks)
    return outcome


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
