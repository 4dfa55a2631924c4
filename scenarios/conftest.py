"""Scenario-wide fixtures.

The migration drill is long (two extra servers, seeding, an upgrade, a rollback) and
independent of every other scenario: it starts in the background with the first scenario and
the migration tests wait for it, so its minutes overlap the others' instead of adding to them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.agent.client import Agent
from harness.auth.basic_auth import BasicAuthFleet
from harness.migration.drill import DrillSide, MigrationDrill
from harness.session import RunSession

DRILL_KEY = pytest.StashKey["BackgroundDrill"]()
AUTH_KEY = pytest.StashKey["BackgroundStart"]()


@dataclass
class BackgroundDrill:
    """The drill running in a thread of its own, with its own client processes."""

    session: RunSession
    result: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    agents: list[Agent] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="migration-drill", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        session = self.session
        try:
            assert session.postgres is not None and session.s3 is not None
            sides = {}
            for role, runtime in session.sides.items():
                agent = Agent(f"migration-{role}-{runtime.version}", runtime.env.python,
                              session.log_dir / f"client-migration-{role}-{runtime.version}.log")
                self.agents.append(agent)
                sides[role] = DrillSide(role, runtime.env.bin, runtime.env.path, agent.start())
            self.result = MigrationDrill(
                postgres=session.postgres,
                s3=session.s3.location,
                old=sides["from"],
                new=sides["to"],
                run_id=session.config.run_id,
                log_dir=session.log_dir,
                scale=session.config.migration_scale,
                dump=session.config.from_dump,
            ).run()
        except BaseException as error:  # noqa: BLE001 - handed to the tests that wait for it
            self.error = error
        finally:
            for agent in self.agents:
                agent.stop()

    def wait(self) -> dict[str, Any]:
        assert self.thread is not None
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.result


def _drill_selected(session: pytest.Session) -> bool:
    return any(item.path.name == "test_migration.py" for item in session.items)


@pytest.fixture(scope="session", autouse=True)
def background_migration(
    request: pytest.FixtureRequest, harness_session: RunSession
) -> Iterator[BackgroundDrill | None]:
    if not _drill_selected(request.session):
        yield None
        return
    drill = BackgroundDrill(harness_session)
    drill.start()
    request.config.stash[DRILL_KEY] = drill
    yield drill
    if drill.thread is not None:
        drill.thread.join(timeout=5)


@dataclass
class BackgroundStart:
    """Services started in a thread at session start, waited for by the tests that use them."""

    fleet: BasicAuthFleet
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="basic-auth-start", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.fleet.start()
        except BaseException as error:  # noqa: BLE001 - handed to the tests that wait for it
            self.error = error

    def wait(self) -> BasicAuthFleet:
        assert self.thread is not None
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.fleet


@pytest.fixture(scope="session", autouse=True)
def background_basic_auth(
    request: pytest.FixtureRequest, harness_session: RunSession
) -> Iterator[None]:
    """The basic-auth servers start with the first scenario, so their start-up overlaps."""
    if not any(item.path.name == "test_basic_auth.py" for item in request.session.items):
        yield None
        return
    background = BackgroundStart(BasicAuthFleet(harness_session))
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Migration tests last: by then the background drill has had the most time to finish."""
    items.sort(key=lambda item: item.path.name == "test_migration.py")
