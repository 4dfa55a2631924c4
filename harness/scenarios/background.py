"""Work that starts with the first scenario and runs beside the others, in threads.

Long, independent work (the migration drill, the large artifact round trips, starting the
basic-auth servers) would otherwise add its minutes to the run; started in the background, it
overlaps the rest and the tests that need it wait for it. Background client calls get client
processes of their own, so they never queue behind the scenario in front.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.agent.client import Agent
from harness.auth.basic_auth import BasicAuthFleet
from harness.faults import pause_point
from harness.matrix import parse_cell
from harness.migration.drill import DrillSide, MigrationDrill
from harness.plugin import Client, Collector
from harness.session import RunSession

JOIN_ON_EXIT_S = 5.0


@dataclass
class BackgroundDrill:
    """The drill running in a thread of its own, with its own client processes."""

    session: RunSession
    result: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    agents: list[Agent] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> None:
        work = self.session.progress.in_background("migration drill", self._run)
        self.thread = threading.Thread(target=work, name="migration-drill", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        session = self.session
        try:
            pause_point("migration")
            assert session.postgres is not None and session.s3 is not None
            sides = {}
            for role, runtime in session.sides.items():
                agent = Agent(f"migration-{role}-{runtime.version}", runtime.env.python,
                              session.log_dir / f"client-migration-{role}-{runtime.version}.log")
                self.agents.append(agent)
                sides[role] = DrillSide(role, runtime.command, runtime.env.path,
                                          agent.start())
            self.result = MigrationDrill(
                postgres=session.postgres,
                s3=session.s3.location,
                old=sides["from"],
                new=sides["to"],
                run_id=session.config.run_id,
                log_dir=session.log_dir,
                dump=session.config.scenarios.from_dump,
                template=session.store.database if session.store else None,
                targets=session.store.targets if session.store else None,
                slow=session.config.scenarios.slow_migration,
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


@dataclass
class BackgroundStart:
    """Services started in a thread at session start, waited for by the tests that use them."""

    fleet: BasicAuthFleet
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        work = self.fleet.session.progress.in_background("basic-auth servers start", self._run)
        self.thread = threading.Thread(target=work, name="basic-auth-start", daemon=True)
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


@dataclass(frozen=True)
class Job:
    """One client call a test will want: `target` on side `side`, for test `nodeid` (its key)."""

    side: str
    target: str
    kwargs: dict[str, Any]
    nodeid: str


@dataclass
class BackgroundCalls:
    """Per side, one thread and one client process run that side's jobs in order."""

    session: RunSession
    collector: Collector
    jobs: list[Job]
    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)
    done: dict[str, threading.Event] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for job in self.jobs:
            self.done[job.nodeid] = threading.Event()
        for side in sorted({job.side for job in self.jobs}):
            mine = [job for job in self.jobs if job.side == side]
            what = ", ".join(sorted({job.target.split(":")[0] for job in mine}))
            work = self.session.progress.in_background(f"{what} calls [{side}]", self._run)
            thread = threading.Thread(target=work, args=(side, mine),
                                      name=f"background-{side}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def _run(self, side: str, jobs: list[Job]) -> None:
        cell = parse_cell(side)  # a side, or a matrix cell: a client on a side's server
        runtime = self.session.client(cell.client)
        url = self.session.sides[cell.server].tracking_uri
        agent = Agent(f"background-{side}-{runtime.version}", runtime.env.python,
                      self.session.log_dir / f"client-background-{side}-{runtime.version}.log")
        try:
            agent.start()
            for job in jobs:
                self._one(Client(agent, url, job.nodeid, self.collector), job)
        except BaseException as error:  # noqa: BLE001 - handed to every waiting test
            for job in jobs:
                self.errors.setdefault(job.nodeid, error)
                self.done[job.nodeid].set()
        finally:
            agent.stop()

    def _one(self, client: Client, job: Job) -> None:
        try:
            self.results[job.nodeid] = client.call(job.target, **job.kwargs)
        except Exception as error:  # noqa: BLE001 - raised again in the test that wants it
            self.errors[job.nodeid] = error
        finally:
            self.done[job.nodeid].set()

    def result(self, key: str) -> Any:
        self.done[key].wait()
        if key in self.errors:
            raise self.errors[key]
        return self.results[key]

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=JOIN_ON_EXIT_S)


JobFactory = Callable[[dict[str, Any], str], tuple[str, dict[str, Any]]]
