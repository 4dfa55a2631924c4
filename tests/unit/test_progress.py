"""Progress (plain lines, quiet), the board it keeps, and the live view drawn from it."""

from __future__ import annotations

import io
import re
import threading

from rich.console import Console

from harness.board import Board
from harness.console import one_line
from harness.live import LiveView, clock
from harness.progress import Progress, scenario_line
from harness.results.model import CheckResult, Status

LINE = re.compile(r"^\[ *\d+\.\ds\] ")


def _check(status: Status, side: str = "from", client: str = "2.9.2",
           server: str = "2.9.2") -> CheckResult:
    return CheckResult("artifacts", f"t[{side}]", side, server, status, 1.5, case="t",
                       message="boom\nsecond line", client_version=client,
                       server_version=server, in_matrix=True)


def test_plain_lines_say_when_phases_start_and_end_with_their_timings() -> None:
    stream = io.StringIO()
    progress = Progress(stream=stream, live=False)
    with progress.phase("start S3"):
        pass
    try:
        with progress.phase("scenarios"):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    with progress.task("migration drill"):
        pass
    lines = stream.getvalue().splitlines()
    assert all(LINE.match(line) for line in lines), lines
    assert [LINE.sub("", line) for line in lines] == [
        "… start S3", "✓ start S3 (0.0s)", "… scenarios", "✗ scenarios (0.0s)",
        "… background: migration drill", "✓ background: migration drill (0.0s)"]
    assert set(progress.durations) == {"start S3"}, "a failed phase has no duration"


def test_each_scenario_closes_with_its_counts_once_its_last_test_ended() -> None:
    stream = io.StringIO()
    progress = Progress(stream=stream, live=False)
    progress.scenarios_collected({"artifacts": 3})
    failed = _check(Status.FAILED)
    advisory = _check(Status.FAILED, "to_on_from", client="3.4.0")
    for check in (_check(Status.PASSED), failed, advisory):
        progress.test_started("artifacts", check.side)
        progress.test_finished("artifacts", [check], [line for line in [one_line(check)] if line])
    text = stream.getvalue()
    assert text.count("scenario artifacts") == 1
    assert "✗ scenario artifacts: 1 passed, 1 failed, 1 advisory (4.5s)" in text
    assert "  FAILED: t [from]: boom\n" in text and "second line" not in text


def test_quiet_prints_nothing() -> None:
    stream = io.StringIO()
    progress = Progress(stream=stream, quiet=True)
    with progress.phase("scenarios"):
        progress.say("hello")
        progress.note("  FAILED: x")
    progress.close()
    assert stream.getvalue() == "" and not progress.live
    assert "scenarios" in progress.durations


def test_the_board_counts_tests_from_threads_and_knows_when_a_scenario_is_complete() -> None:
    board = Board()
    board.collected({"tracking": 40})
    finished = []

    def work() -> None:
        for _ in range(10):
            board.test_started("tracking", "from")
            finished.append(board.test_finished("tracking", [_check(Status.PASSED)]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [tally for tally in finished if tally is not None]
    assert len(done) == 1 and done[0].summary() == "40 passed"
    assert scenario_line("tracking", done[0]) == "✓ scenario tracking: 40 passed (60.0s)"


def test_the_live_view_draws_phases_scenarios_totals_and_background_work() -> None:
    board = Board()
    board.begin("scenarios")
    board.begin("migration drill", background=True)
    board.collected({"tracking": 2, "serving": 1})
    board.test_started("tracking", "from")
    board.test_finished("tracking", [_check(Status.PASSED)])
    board.test_started("tracking", "to_on_from")
    view = LiveView(io.StringIO(), board)
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(view._render())
    screen = out.getvalue()
    assert "scenarios" in screen
    assert "tracking [to_on_from]  1/2 · 1 passed" in screen
    assert "serving" not in screen, "a scenario not started yet has no line"
    assert "1/3 tests · 1 passed · 0 failed · 0 advisory · 0 known defects" in screen
    assert "background: migration drill" in screen
    assert clock(8.24) == "8.2s" and clock(187) == "3:07"


def test_a_scenario_running_in_two_lanes_shows_both_cells_until_each_ends() -> None:
    board = Board()
    board.collected({"deltaone": 4})
    board.test_started("deltaone", "from")
    board.test_started("deltaone", "to")  # another lane, at the same time
    view = LiveView(io.StringIO(), board)

    def screen() -> str:
        out = io.StringIO()
        Console(file=out, width=100, color_system=None).print(view._render())
        return out.getvalue()

    assert "deltaone [from, to]  0/4" in screen()
    board.test_finished("deltaone", [_check(Status.PASSED, side="to")])
    assert "deltaone [from]  1/4 · 1 passed" in screen()
