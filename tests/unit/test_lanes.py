"""Concurrent scenario lanes (harness/lanes.py): the share of each lane, the merged results
model (the one a sequential run gives), and real forked lanes: progress relayed, results back,
a crash reported, an interrupt forwarded once and bounded."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import lanes
from harness.lanes import (
    CROSS_LANE,
    LaneDispatcher,
    LaneFilter,
    LaneResult,
    RelayProgress,
    fork_lane,
    in_collection_order,
    lane_of,
    lanes_of,
    part_of,
    role_of,
    share_modules,
)
from harness.progress import Progress
from harness.results.model import CheckResult, Status
from harness.runtime.processes import REGISTRY, running
from harness.scenarios_runner import cross_version_diff

RECORDED = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "observations-2.9.2-3.4.0.json").read_text())
VERSIONS = {"from": "2.9.2", "to": "3.4.0"}


def test_each_cell_goes_to_its_clients_lane_and_cross_side_tests_to_cross() -> None:
    assert lane_of("from") == "from" and lane_of("from_on_to") == "from"
    assert lane_of("to_on_from") == "to" and lane_of("to") == "to"
    assert lane_of(None) == CROSS_LANE
    assert lanes_of(["from", "to", "3.17.2"], parts=1) == ["from", "to", "3.17.2", CROSS_LANE]
    assert lanes_of(["from", "to"], parts=2) == ["from", "from/2", "to", "to/2", CROSS_LANE]
    assert [(role_of(lane), part_of(lane)) for lane in lanes_of(["to"], parts=3)] == [
        ("to", 1), ("to", 2), ("to", 3), (CROSS_LANE, 1)]


def test_modules_are_shared_whole_heaviest_first_into_the_lighter_part() -> None:
    weights = {"deltaone": 60, "edges": 45, "basic_auth": 20, "serving": 15, "proxy": 10,
               "tracking": 3, "errors": 1}
    share = share_modules(weights, 2)
    assert share == {"deltaone": 1, "edges": 2, "basic_auth": 2, "serving": 1, "proxy": 2,
                     "tracking": 1, "errors": 2}
    loads = [sum(w for m, w in weights.items() if share[m] == part) for part in (1, 2)]
    assert loads == [78, 76]
    assert share_modules(dict(reversed(weights.items())), 2) == share, "order-independent"
    assert set(share_modules(weights, 1).values()) == {1}


def _item(module: str, side: str | None, weight: float | None) -> Any:
    """What LaneFilter reads of a pytest item: its path, module and (through side_of) side."""
    namespace = SimpleNamespace() if weight is None else SimpleNamespace(LANE_SECONDS=weight)
    return SimpleNamespace(path=Path(f"/s/test_{module}.py"), module=namespace, side=side,
                           nodeid=f"test_{module}.py::t[{side}]")


def test_each_role_test_runs_in_exactly_one_of_its_lanes_and_a_module_stays_whole() -> None:
    items = [_item(module, side, weight)
             for module, weight in (("deltaone", 60), ("edges", 45), ("serving", 15),
                                    ("tracking", 3), ("team", None))
             for side in ("from", "to", "from_on_to", "to_on_from")]
    items.append(_item("migration", None, 1))
    kept: dict[str, list[Any]] = {}
    for lane in lanes_of(["from", "to"], parts=2):
        share = LaneFilter(lane, lambda item: item.side, lambda selected: None, parts=2)
        kept[lane] = share.keeps(items)
    assert [i.nodeid for i in kept[CROSS_LANE]] == ["test_migration.py::t[None]"]
    for role in ("from", "to"):
        both = kept[role] + kept[f"{role}/2"]
        assert sorted(i.nodeid for i in both) == sorted(
            i.nodeid for i in items if i.side is not None and lane_of(i.side) == role)
        modules = [{i.path.name for i in kept[lane]} for lane in (role, f"{role}/2")]
        assert modules[0] and modules[1] and not modules[0] & modules[1]
        assert {"test_deltaone.py", "test_edges.py"} - modules[0] - modules[1] == set()
        assert ("test_deltaone.py" in modules[0]) != ("test_edges.py" in modules[0])
    one = LaneFilter("to", lambda item: item.side, lambda selected: None, parts=1)
    assert len(one.keeps(items)) == 10, "one lane per role: all of the role's tests"


CROSS_CASES = {"test_basic_auth.py::test_auth_database_migrates",
               "test_serving.py::test_old_model_loads_in_new_client"}


def _recorded_checks() -> tuple[list[CheckResult], dict[str, int]]:
    """One check per recorded test and side (one for a cross-side test), in a sequential run's
    (collection) order."""
    checks = []
    for case, by_version in RECORDED.items():
        module, _, name = case.partition("::")
        base, _, params = name.partition("[")
        cells = {"cross": "3.4.0"} if case in CROSS_CASES else VERSIONS
        for side, version in cells.items():
            ident = f"{side}-{params[:-1]}" if params else side
            checks.append(CheckResult(
                scenario=module.removeprefix("test_").removesuffix(".py"),
                test=case if side == "cross" else f"{module}::{base}[{ident}]", case=case,
                side=side, mlflow_version=version, status=Status.PASSED, duration_s=0.1,
                observations=by_version.get(version, {})))
    return checks, {check.test: index for index, check in enumerate(checks)}


def test_lanes_merge_into_the_sequential_results_model() -> None:
    """Recorded observations of a real 2.9.2 → 3.4.0 run, split into lanes that finish in any
    order: the merged checks and the classified diff are the sequential ones."""
    sequential, order = _recorded_checks()
    expected_diff = cross_version_diff(sequential)
    assert expected_diff, "the recording has real differences to compare"
    by_lane: dict[str, list[CheckResult]] = {}
    for check in sequential:
        by_lane.setdefault(lane_of(None if check.side == "cross" else check.side),
                           []).append(check)
    assert set(by_lane) == {"from", "to", CROSS_LANE}
    rng = random.Random(7)
    for _ in range(5):
        finished = list(by_lane.values())
        rng.shuffle(finished)
        merged = in_collection_order([c for lane in finished for c in lane], order)
        assert merged == sequential
        assert cross_version_diff(merged) == expected_diff


# Real forks: what a lane sends and what the parent makes of it.

def _check(test: str, side: str) -> CheckResult:
    return CheckResult(scenario="demo", test=test, case=test, side=side, mlflow_version="1",
                       status=Status.PASSED, duration_s=0.01)


def _lane_that_reports(name: str, tests: list[str]) -> lanes.Lane:
    def child(connection: Connection) -> LaneResult:
        progress = RelayProgress(connection, name)
        progress.scenarios_collected({"demo": len(tests)})
        checks = []
        with progress.task(f"work of {name}"):
            for test in tests:
                progress.test_started("demo", name)
                checks.append(_check(test, name))
                progress.test_finished("demo", [checks[-1]], [f"line of {test}"])
        return LaneResult(name, 0, checks, {t: i for i, t in enumerate(tests)})

    return fork_lane(name, child)


def test_forked_lanes_relay_progress_and_send_their_checks_back() -> None:
    stream = _Lines()
    progress = Progress(stream=stream, live=False)  # type: ignore[arg-type]
    forked = [_lane_that_reports("from", ["a[from]", "b[from]"]),
              _lane_that_reports("to", ["a[to]"])]
    results, interrupted = LaneDispatcher(forked, progress).run()
    assert not interrupted
    assert {r.lane: [c.test for c in r.checks] for r in results} == {
        "from": ["a[from]", "b[from]"], "to": ["a[to]"]}
    text = stream.text()
    for test in ("a[from]", "b[from]", "a[to]"):
        assert f"line of {test}" in text
    # totals summed over the lanes before any test is counted: one closing line, at the end
    assert text.count("scenario demo: 3 passed") == 1
    assert "background: work of from" in text
    assert all(not running(lane.pid) for lane in forked)


def test_a_lane_that_crashes_is_reported_not_lost() -> None:
    def child(connection: Connection) -> LaneResult:
        raise RuntimeError("boom in the lane")

    dispatcher = LaneDispatcher([fork_lane("from", child)], Progress(quiet=True))
    results, interrupted = dispatcher.run()
    assert not interrupted and results[0].code == -1 and results[0].checks == []
    assert "RuntimeError: boom in the lane" in dispatcher.crashes["from"]


def _interrupt_once_a_lane_spoke(monkeypatch: pytest.MonkeyPatch) -> None:
    """The person presses Ctrl-C while the parent waits on its lanes (after a lane spoke)."""
    real = lanes.wait
    state = {"spoke": False, "pressed": False}

    def waiting(objects: list[Connection], timeout: float) -> list[Connection]:
        if state["spoke"] and not state["pressed"]:
            state["pressed"] = True
            raise KeyboardInterrupt
        ready = real(objects, timeout)  # type: ignore[arg-type]
        state["spoke"] = state["spoke"] or bool(ready)
        return ready  # type: ignore[return-value]

    monkeypatch.setattr(lanes, "wait", waiting)


def test_an_interrupt_reaches_each_lane_once_and_keeps_partial_results(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's Ctrl-C becomes one SIGTERM per lane (lanes ignore SIGINT): each lane ends
    its work, says what it did, and exits."""
    _interrupt_once_a_lane_spoke(monkeypatch)

    def child(connection: Connection) -> LaneResult:
        done = [_check("first[to]", "to")]
        try:
            RelayProgress(connection, "to").say("first test done")
            os.kill(os.getpid(), signal.SIGINT)  # the terminal's Ctrl-C: ignored by a lane
            for _ in range(300):  # short sleeps: a signal landing just before a sleep's system
                time.sleep(0.1)  # call does not cut that sleep short
            done.append(_check("never[to]", "to"))
        except KeyboardInterrupt:  # the parent's SIGTERM
            return LaneResult("to", int(pytest.ExitCode.INTERRUPTED), done, interrupted=True)
        return LaneResult("to", 0, done)

    forked = fork_lane("to", child)
    began = time.monotonic()
    results, interrupted = LaneDispatcher([forked], Progress(quiet=True)).run()
    assert interrupted and results[0].interrupted
    assert [c.test for c in results[0].checks] == ["first[to]"]
    assert time.monotonic() - began < 20 and not running(forked.pid)


def test_a_lane_that_ignores_the_interrupt_is_killed_after_the_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lanes, "LANE_STOP_S", 1.0)
    _interrupt_once_a_lane_spoke(monkeypatch)

    def child(connection: Connection) -> LaneResult:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        RelayProgress(connection, "from").say("started")
        time.sleep(60)
        return LaneResult("from", 0)

    forked = fork_lane("from", child)
    began = time.monotonic()
    results, interrupted = LaneDispatcher([forked], Progress(quiet=True)).run()
    assert interrupted and results[0].code == int(pytest.ExitCode.INTERRUPTED)
    assert time.monotonic() - began < 15 and not running(forked.pid)


def test_a_lane_forgets_the_parents_processes(tmp_path: Path) -> None:
    """A lane must never stop what the parent started: its registry starts empty."""
    stopped = tmp_path / "the parent's database was dropped"
    action = REGISTRY.add_cleanup("parent's database", stopped.touch)
    try:
        def child(connection: Connection) -> LaneResult:
            REGISTRY.stop_everything()  # the lane's own teardown
            return LaneResult("from", 0)

        results, _ = LaneDispatcher([fork_lane("from", child)], Progress(quiet=True)).run()
        assert results[0].code == 0
        assert not stopped.exists()
        assert not REGISTRY.cancelled.is_set()
    finally:
        REGISTRY.remove_cleanup(action)


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        return "".join(self.lines)
