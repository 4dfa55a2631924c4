"""Scenario-wide fixtures: background work that starts with the first scenario.

See `scenarios/background.py`. A scenario module opts in to background client calls by defining
`background_job(params, run_prefix) -> (target, kwargs)`: its tests' calls start at session
start on clients of their own, the tests run last and pick their results up with
`background_calls.result(request.node.nodeid)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.auth.basic_auth import BasicAuthFleet
from harness.plugin import COLLECTOR_KEY, side_of
from harness.scenarios import options
from harness.scenarios.background import BackgroundCalls, BackgroundDrill, BackgroundStart, Job
from harness.session import RunSession

DRILL_KEY = pytest.StashKey[BackgroundDrill]()
AUTH_KEY = pytest.StashKey[BackgroundStart]()
CALLS_KEY = pytest.StashKey[BackgroundCalls]()
JOIN_S = 5.0


def pytest_addoption(parser: pytest.Parser) -> None:
    """The built-in scenarios' own options: also options of `mlflow-upgrade-harness run` and
    keys of its config file (harness/config/scenario_options.py)."""
    group = parser.getgroup("mlflow-upgrade-harness scenarios")
    group.addoption("--deltaone-detector", metavar="FILE[:FUNCTION]",
                    type=options.deltaone_detector,
                    help="run the DeltaOne scenario with your own detector function (default "
                         "function name: detect) instead of the reference one")
    group.addoption("--proxy-command", metavar="TEMPLATE", type=options.proxy_command,
                    help="your auth proxy instead of the reference one: a command with "
                         "{upstream} and {port} (and optionally {token_env}) filled in")


def _selected(session: pytest.Session, filename: str) -> bool:
    return any(item.path.name == filename for item in session.items)


def _has_background_job(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return module is not None and hasattr(module, "background_job")


@pytest.fixture(scope="session", autouse=True)
def background_migration(
    request: pytest.FixtureRequest, harness_session: RunSession
) -> Iterator[BackgroundDrill | None]:
    if not _selected(request.session, "test_migration.py"):
        yield None
        return
    drill = BackgroundDrill(harness_session)
    drill.start()
    request.config.stash[DRILL_KEY] = drill
    yield drill
    if drill.thread is not None:
        drill.thread.join(timeout=JOIN_S)


@pytest.fixture(scope="session", autouse=True)
def background_basic_auth(
    request: pytest.FixtureRequest, harness_session: RunSession
) -> Iterator[None]:
    """The basic-auth servers start with the first scenario, so their start-up overlaps: one
    per side whose basic-auth test is selected (in this lane, when the scenarios run in lanes)."""
    roles = sorted({side for item in request.session.items
                    if item.path.name == "test_basic_auth.py"
                    and (side := side_of(item)) in harness_session.sides})
    if not roles:
        yield None
        return
    background = BackgroundStart(BasicAuthFleet(harness_session, roles))
    background.start()
    request.config.stash[AUTH_KEY] = background
    try:
        yield None
    finally:
        if background.thread is not None:
            background.thread.join()
        background.fleet.stop()


@pytest.fixture(scope="session")
def basic_auth(request: pytest.FixtureRequest) -> BasicAuthFleet:
    background = request.config.stash.get(AUTH_KEY, None)
    if background is None:
        pytest.skip("basic-auth servers were not started")
    return background.wait()


@pytest.fixture(scope="session", autouse=True)
def background_jobs(
    request: pytest.FixtureRequest, harness_session: RunSession, run_prefix: str
) -> Iterator[None]:
    jobs = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if not _has_background_job(item) or callspec is None:
            continue
        params = dict(callspec.params)
        target, kwargs = item.module.background_job(params, run_prefix)  # type: ignore[attr-defined]
        jobs.append(Job(str(params["side"]), target, kwargs, item.nodeid))
    if not jobs:
        yield None
        return
    calls = BackgroundCalls(harness_session, request.config.stash[COLLECTOR_KEY], jobs)
    calls.start()
    request.config.stash[CALLS_KEY] = calls
    yield None
    calls.join()


@pytest.fixture
def background_calls(request: pytest.FixtureRequest) -> BackgroundCalls:
    return request.config.stash[CALLS_KEY]


def _waits_for_background(item: pytest.Item) -> bool:
    """A test that needs work started in the background: a background call's result, or the
    basic-auth servers (a start of ~15 s on a busy machine)."""
    return _has_background_job(item) or "basic_auth" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests waiting for background work last, migration at the very end: by then the
    background work has had the most time to finish."""
    items.sort(key=lambda item: (item.path.name == "test_migration.py",
                                 _waits_for_background(item)))
