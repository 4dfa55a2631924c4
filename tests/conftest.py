"""Shared fixtures for the harness's own tests, and how they share the machine.

The suite runs on two pytest-xdist workers (`-n 2` in pyproject.toml; `-n 0` for one process):
- a test module is one unit of work (its module fixtures start once), unless it names an
  `xdist_group` that several modules share (a session fixture that starts one run for them all);
- a test marked `quiet` runs alone: it waits until the other worker's test ends, and no other
  test starts until it is done. The benchmark gate (its decisions rest on timing) and the
  3.17.2 pair (its uvicorn kills workers that miss a health ping on a starved machine).
"""

from __future__ import annotations

import fcntl
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.runtime.processes import REGISTRY


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each module's tests go to one xdist worker (before xdist reads the groups)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(Path(item.nodeid.split("::")[0]).stem))


class MachineShare:
    """A readers-writer lock between the xdist workers of one run: ordinary tests share the
    machine, a `quiet` test has it alone. Writers go first: a waiting quiet test holds the
    turnstile, so no new shared holder slips in ahead of it."""

    def __init__(self, folder: Path) -> None:
        self._turnstile = (folder / "turnstile.lock").open("a")
        self._machine = (folder / "machine.lock").open("a")
        self.alone: bool | None = None  # held alone, shared, or not held

    def hold(self, alone: bool) -> None:
        if self.alone is not None:
            if self.alone == alone:
                return
            self.release()
        fcntl.flock(self._turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._machine, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._turnstile, fcntl.LOCK_UN)
        self.alone = alone

    def release(self) -> None:
        fcntl.flock(self._machine, fcntl.LOCK_UN)
        self.alone = None


_share: MachineShare | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _share
    basetemp = config.option.basetemp  # an xdist worker's: <run's temp folder>/popen-gwN
    if os.environ.get("PYTEST_XDIST_WORKER") and basetemp:
        _share = MachineShare(Path(basetemp).parent)


def _quiet(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker("quiet") is not None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Around a test's set-up (session fixtures included), call and teardown; consecutive quiet
    tests keep the machine between them."""
    if _share is None:
        yield
        return
    _share.hold(alone=_quiet(item))
    try:
        yield
    finally:
        if not (_quiet(item) and _quiet(nextitem)):
            _share.release()


_module_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _module_seconds[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Each module's time (set-up, calls and teardown of its tests, its fixtures included;
    not the time it waited for the machine): the cost of a module, for docs/measurements.md."""
    if not _module_seconds:
        return
    terminalreporter.section("time per test module")
    for module, seconds in sorted(_module_seconds.items(), key=lambda kv: -kv[1]):
        if seconds >= 1:
            terminalreporter.write_line(f"{seconds:7.0f} s  {module}")
    terminalreporter.write_line(f"{sum(_module_seconds.values()):7.0f} s  in all")


@pytest.fixture(autouse=True)
def _no_leaked_processes() -> Iterator[None]:
    """A test leaves no process behind that it started itself (module fixtures may keep
    theirs until the module ends; they stop them on teardown)."""
    if not REGISTRY.running():
        REGISTRY.reset()
    before = {id(p) for p in REGISTRY.running()}
    yield
    leftovers = [p for p in REGISTRY.running() if id(p) not in before]
    for process in leftovers:
        process.stop(grace_seconds=2)
    assert not leftovers, f"test left processes running: {[p.name for p in leftovers]}"


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("MLFLOW_", "AWS_")):
            monkeypatch.delenv(key)
