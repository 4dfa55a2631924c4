"""The suite's two xdist workers share the machine, but a `quiet` test has it alone
(tests/conftest.py): here two processes play the workers, and the order of what they log is
the evidence (no timing is asserted)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from tests.conftest import MachineShare

CONTEXT = multiprocessing.get_context("fork")


def _worker(folder: Path, log: Path, alone: bool, name: str, wait_for: str | None) -> None:
    """Logs `asks`, takes the machine, logs `start`; holds it until `wait_for` is in the log
    (bounded) and a little longer; logs `end` and lets go."""
    share = MachineShare(folder)
    _log(log, f"{name} asks")
    share.hold(alone)
    _log(log, f"{name} start")
    deadline = time.monotonic() + 5
    while wait_for and wait_for not in _events(log) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    _log(log, f"{name} end")
    share.release()


def _log(log: Path, line: str) -> None:
    with log.open("a") as out:
        out.write(line + "\n")


def _events(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _run(folder: Path, log: Path, *workers: tuple[bool, str, str | None]) -> list[str]:
    """The workers in order, each once the one before holds the machine; the log's lines,
    without the `asks` of the first."""
    processes = []
    for alone, name, wait_for in workers:
        processes.append(CONTEXT.Process(target=_worker,
                                         args=(folder, log, alone, name, wait_for)))
        processes[-1].start()
        deadline = time.monotonic() + 10
        while f"{name} start" not in _events(log) and time.monotonic() < deadline and \
                name == workers[0][1]:
            time.sleep(0.01)
    for process in processes:
        process.join(timeout=15)
        assert process.exitcode == 0
    return [e for e in _events(log) if e != f"{workers[0][1]} asks"]


def test_a_quiet_test_waits_for_a_running_test_and_others_wait_for_it(tmp_path: Path) -> None:
    assert _run(tmp_path, tmp_path / "one.log", (False, "shared", "quiet asks"),
                (True, "quiet", None)) == [
        "shared start", "quiet asks", "shared end", "quiet start", "quiet end"]
    assert _run(tmp_path, tmp_path / "two.log", (True, "quiet", "shared asks"),
                (False, "shared", None)) == [
        "quiet start", "shared asks", "quiet end", "shared start", "shared end"]


def test_ordinary_tests_run_side_by_side(tmp_path: Path) -> None:
    assert _run(tmp_path, tmp_path / "log", (False, "a", "b end"), (False, "b", None)) == [
        "a start", "b asks", "b start", "b end", "a end"]


def test_holding_again_keeps_the_lock_and_a_change_of_mode_takes_it_anew(tmp_path: Path) -> None:
    share = MachineShare(tmp_path)
    share.hold(alone=True)
    share.hold(alone=True)  # consecutive quiet tests: kept, not taken twice
    assert share.alone is True
    share.hold(alone=False)
    assert share.alone is False
    share.release()
    assert share.alone is None
