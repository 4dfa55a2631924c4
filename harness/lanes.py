"""The scenarios in concurrent lanes: one process per client role, one for the cross-side tests.

The two sides talk to different servers through different clients; run one after the other,
every wait of the scenarios (a webhook's backoff, a basic-auth server's start, a large
transfer) is paid twice. So after provisioning the run forks one lane per client role of the
matrix (`from`, `to`, each extra client version) and one `cross` lane:

- a role's lanes run every cell whose client is that role: its own side, and its client on the
  other servers. A role has LANE_PARTS lanes (`to`, `to/2`), which share its scenario modules:
  a module is never split, the heaviest go first to the lighter part (`LANE_SECONDS` of a
  scenario module, its typical seconds). Most of a scenario's time is waiting (a webhook's
  backoff, 3.x's ~40 ms per kept-alive request), so a role's waits overlap instead of adding
  up. Each client process (Agent) is driven by exactly one lane, so no pipe is shared: a part
  after the first starts a client process of its own for its role.
- `cross` runs the tests that use both sides at once (no `side`: the migration drill, the auth
  database's upgrade, a model logged by the old client loaded by the new), with client
  processes of its own for every role.

A test shares nothing in memory with the tests of other lanes (each lane is its own process):
what a cross-side test needs, it makes itself or gets from the servers, and a session fixture
starts only what its lane's tests use (the basic-auth servers of the sides selected).

A lane is a fork of the harness: it inherits the provisioned session (servers, PostgreSQL, S3,
clients), runs pytest on its share of the items and sends its progress and its checks back over a
pipe. It forgets the parent's processes (it must never stop them) and stops what it started.
Merged, the checks are put in collection order: the results model is the one a sequential run
gives (tests/unit/test_lanes.py), whichever lane finishes first.

Ctrl-C or SIGTERM reaches the parent, which forwards SIGTERM to each lane once (lanes ignore
the terminal's SIGINT, so no lane is interrupted twice mid-teardown), waits LANE_STOP_S for their
partial results and teardown, then kills what is left.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe, wait
from types import FrameType
from typing import Any

import pytest

from harness.agent.client import Agent
from harness.matrix import parse_cell
from harness.progress import Progress
from harness.results.model import CheckResult
from harness.runtime.processes import REGISTRY
from harness.runtime.shield import InterruptSafePool
from harness.runtime.waiting import outcome

CROSS_LANE = "cross"
LANE_PARTS = 2 if (os.cpu_count() or 1) > 1 else 1  # lanes per client role
DEFAULT_LANE_SECONDS = 1.0  # a scenario module that does not say its weight
LANE_STOP_S = 60.0  # after an interrupt: a lane's teardown (basic-auth servers, the drill)
OUTPUT_LINES = 30  # of a lane's pytest output, kept when it could not run its share
# Progress methods a lane may call in the parent (see RelayProgress).
RELAYED = ("say", "note", "test_started", "test_finished", "task_begin", "task_end")


def lane_of(side: str | None) -> str:
    """The lane of a test: `cross` for a test that uses both sides (it has no side), else the
    client role of its cell."""
    return CROSS_LANE if side is None else parse_cell(side).client


def lanes_of(client_roles: list[str], parts: int = LANE_PARTS) -> list[str]:
    """Every lane of a run: `parts` per client role of the matrix (`to`, `to/2`, ...), then
    `cross`."""
    return [*(role if part == 1 else f"{role}/{part}" for role in client_roles
              for part in range(1, parts + 1)), CROSS_LANE]


def role_of(lane: str) -> str:
    """The client role (or `cross`) whose tests a lane runs."""
    return lane.partition("/")[0]


def part_of(lane: str) -> int:
    """Which of its role's lanes a lane is, from 1."""
    return int(lane.partition("/")[2] or 1)


def share_modules(weights: dict[str, float], parts: int) -> dict[str, int]:
    """Each module's part (1..parts): the heaviest first, each into the part with the least
    weight so far (ties: the lower part). Deterministic, so every lane computes the same."""
    loads = [0.0] * parts
    share: dict[str, int] = {}
    for module in sorted(weights, key=lambda name: (-weights[name], name)):
        part = min(range(parts), key=lambda index: (loads[index], index))
        loads[part] += weights[module]
        share[module] = part + 1
    return share


def lane_seconds(item: pytest.Item) -> float:
    """A scenario module's weight in the share: its `LANE_SECONDS`."""
    module = getattr(item, "module", None)
    return float(getattr(module, "LANE_SECONDS", DEFAULT_LANE_SECONDS))


def in_collection_order(checks: list[CheckResult], order: dict[str, int]) -> list[CheckResult]:
    """The checks of every lane, in the order one pytest session runs them (node id order of
    collection; a test no lane collected goes last, by name)."""
    return sorted(checks, key=lambda check: (order.get(check.test, len(order)), check.test))


@dataclass
class LaneResult:
    """What one lane sends back when its pytest session ends."""

    lane: str
    code: int
    checks: list[CheckResult] = field(default_factory=list)
    order: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    output: list[str] = field(default_factory=list)  # pytest's last lines, when it failed
    seconds: float = 0.0


class LaneFilter:
    """pytest plugin of a lane: keeps its share of the items (after every other reordering and
    selection), records the full collection order, and starts the lane's own clients."""

    def __init__(self, lane: str, side_of: Callable[[pytest.Item], str | None],
                 on_selected: Callable[[list[pytest.Item]], None],
                 parts: int = LANE_PARTS) -> None:
        self.lane = lane
        self.side_of = side_of
        self.on_selected = on_selected
        self.parts = parts
        self.order: dict[str, int] = {}

    def keeps(self, items: list[pytest.Item]) -> list[pytest.Item]:
        """The lane's share of `items`: its role's tests, of the modules of its part."""
        role = role_of(self.lane)
        mine = [item for item in items if lane_of(self.side_of(item)) == role]
        if role == CROSS_LANE or self.parts == 1:
            return mine
        weights = {str(item.path): lane_seconds(item) for item in mine}
        share = share_modules(weights, self.parts)
        return [item for item in mine if share[str(item.path)] == part_of(self.lane)]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        self.order = {item.nodeid: index for index, item in enumerate(items)}
        keep = self.keeps(items)
        kept = set(keep)
        drop = [i for i in items if i not in kept]
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """After the lane said what it collected (the parent shows nothing until every lane
        has): start what its share needs."""
        if session.items:
            self.on_selected(list(session.items))


class RelayProgress(Progress):
    """A lane's progress: every event goes to the parent over the lane's pipe (the parent's
    live view and plain lines show them); nothing is printed here."""

    def __init__(self, connection: Connection, lane: str) -> None:
        super().__init__(stream=io.StringIO(), quiet=True, live=False)
        self.connection = connection
        self.lane = lane
        self._send_lock = threading.Lock()

    def send(self, kind: str, *args: Any) -> None:
        with self._send_lock:
            try:
                self.connection.send((kind, args))
            except (OSError, ValueError):
                pass  # the parent is gone; the lane ends with it

    def say(self, message: str) -> None:
        self.send("say", message)

    def note(self, line: str) -> None:
        self.send("note", line)

    @contextmanager
    def task(self, name: str) -> Iterator[None]:
        self.send("task_begin", name)
        began = time.monotonic()
        try:
            yield
        finally:
            self.send("task_end", name, time.monotonic() - began)

    def scenarios_collected(self, totals: dict[str, int]) -> None:
        self.send("collected", totals)

    def test_started(self, scenario: str, side: str) -> None:
        self.send("test_started", scenario, side)

    def test_finished(self, scenario: str, checks: list[CheckResult],
                      lines: list[str]) -> None:
        self.send("test_finished", scenario, checks, lines)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A lane's SIGINT: the parent forwards the interrupt (as SIGTERM), once."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass
class Lane:
    """One forked lane, seen from the parent."""

    name: str
    pid: int
    connection: Connection
    started: float
    result: LaneResult | None = None
    collected: bool = False
    exited: bool = False

    def stop(self, sig: signal.Signals) -> None:
        if not self.exited:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def reap(self, block: bool = False) -> None:
        if self.exited:
            return
        try:
            pid, _ = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            pid = self.pid
        self.exited = pid == self.pid


def fork_lane(name: str, child: Callable[[Connection], LaneResult]) -> Lane:
    """Fork a lane that runs `child` and sends its result; the lane never returns here."""
    reader, writer = Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:  # the lane
        code = 1
        try:
            reader.close()
            signal.signal(signal.SIGINT, _ignore)
            signal.signal(signal.SIGTERM, _interrupt)
            REGISTRY.forked()
            result = child(writer)
            writer.send(("done", (result,)))
            code = 0
        except BaseException:  # noqa: BLE001 - a lane reports, it never unwinds into the parent
            try:
                writer.send(("crashed", (traceback.format_exc(),)))
            except BaseException:  # noqa: BLE001, S110 - the parent is gone
                pass
        finally:
            os._exit(code)  # no atexit, no teardown of what the parent owns
    writer.close()
    return Lane(name, pid, reader, time.monotonic())


def fresh_clients(agents: dict[str, Agent], prefix: str) -> dict[str, Agent]:
    """A client process of each role's environment, started at once (a lane's own: `cross`
    has one per role, a role's second lane one for its role)."""
    fresh = {role: Agent(f"{prefix}-{agent.name}", agent.python,
                         agent.log_path.with_name(f"{prefix}-{agent.log_path.name}"))
             for role, agent in agents.items()}
    with InterruptSafePool(max_workers=max(1, len(fresh))) as pool:
        for started in [pool.submit(agent.start) for agent in fresh.values()]:
            outcome(started)
    return fresh


class LaneDispatcher:
    """The parent's side: relays the lanes' progress into the run's Progress, collects their
    results, forwards an interrupt and bounds the lanes' teardown."""

    def __init__(self, lanes: list[Lane], progress: Progress) -> None:
        self.lanes = lanes
        self.progress = progress
        self.totals: dict[str, int] = {}
        self.pending: list[tuple[str, tuple[Any, ...]]] = []  # held until every lane collected
        self.crashes: dict[str, str] = {}

    def run(self) -> tuple[list[LaneResult], bool]:
        """Every lane's result (partial after an interrupt), and whether one came."""
        interrupted = False
        deadline: float | None = None
        while not all(lane.exited for lane in self.lanes):
            try:
                self._pump(0.5)
                if deadline is not None and time.monotonic() > deadline:
                    self._kill_all()
            except KeyboardInterrupt:
                if interrupted:  # a second interrupt: no more waiting
                    self._kill_all()
                    continue
                interrupted = True
                deadline = time.monotonic() + LANE_STOP_S
                for lane in self.lanes:
                    lane.stop(signal.SIGTERM)
        self._flush()
        results = [lane.result or LaneResult(lane.name, int(pytest.ExitCode.INTERRUPTED)
                                             if interrupted else -1) for lane in self.lanes]
        return results, interrupted

    def _pump(self, timeout: float) -> None:
        open_lanes = {lane.connection: lane for lane in self.lanes if not lane.exited}
        for connection in wait(list(open_lanes), timeout):
            lane = open_lanes[connection]  # type: ignore[index]
            try:
                kind, args = lane.connection.recv()
            except (EOFError, OSError):
                lane.collected = True
                lane.reap(block=True)
                lane.connection.close()
                continue
            self._handle(lane, kind, args)

    def _handle(self, lane: Lane, kind: str, args: tuple[Any, ...]) -> None:
        if kind == "done":
            result: LaneResult = args[0]
            result.seconds = round(time.monotonic() - lane.started, 2)
            lane.result, lane.collected = result, True
        elif kind == "crashed":
            self.crashes[lane.name] = args[0]
            lane.collected = True
        elif kind == "collected":
            for scenario, count in args[0].items():
                self.totals[scenario] = self.totals.get(scenario, 0) + count
            lane.collected = True
        elif kind in RELAYED:
            self.pending.append((kind, args))
        if all(each.collected for each in self.lanes):
            self._flush()

    def _flush(self) -> None:
        if self.totals:
            self.progress.scenarios_collected(dict(self.totals))
            self.totals = {}
        events, self.pending = self.pending, []
        for kind, args in events:
            if kind == "task_begin":
                self.progress.board.begin(args[0], background=True)
                if not self.progress.live:
                    self.progress.say(f"… background: {args[0]}")
            elif kind == "task_end":
                self.progress.board.end(args[0], background=True)
                if not self.progress.live:
                    self.progress.say(f"✓ background: {args[0]} ({args[1]:.1f}s)")
            else:
                getattr(self.progress, kind)(*args)

    def _kill_all(self) -> None:
        for lane in self.lanes:
            lane.stop(signal.SIGKILL)
            lane.reap(block=True)
