"""The benchmark's schedule on numbers alone: the budget's shares, which operations get the next
round, when a loop of rounds ends, whether another large round fits, the round conditions."""

from __future__ import annotations

import math

import pytest

from harness.bench import schedule
from harness.bench.analysis import NEW, OLD, Samples
from harness.bench.schedule import Budget, Rounds, condition, undecided
from harness.bench.tuning import TUNING, BenchSettings, Tuning


def steady(ops: dict[str, tuple[float, float]], rounds: int) -> Samples:
    """`rounds` identical rounds of each operation: (old, new) seconds."""
    samples = Samples()
    for _ in range(rounds):
        samples.add({op: {OLD: old, NEW: new} for op, (old, new) in ops.items()})
    return samples


def noisy(ops: dict[str, float], jitters: tuple[float, ...] = (0.6, 1.5, 0.7, 1.4)) -> Samples:
    """Rounds whose new/old ratio swings widely: every operation still undecided."""
    samples = Samples()
    for jitter in jitters:
        samples.add({op: {OLD: seconds, NEW: seconds * jitter} for op, seconds in ops.items()})
    return samples


def loop_rounds(loop: Rounds, samples: Samples, ops: list[str], round_s: float,
                now: float = 0.0) -> list[list[str]]:
    """The rounds a loop times when each round takes `round_s` (samples unchanged)."""
    played: list[list[str]] = []
    while chosen := loop.next(samples, ops, len(played), now):
        played.append(chosen)
        now += round_s
    return played


def test_the_budget_gives_the_gate_its_calibrated_share() -> None:
    budget = Budget(180.0)
    assert budget.gate_until(1000.0) == pytest.approx(1000.0 + 180.0 * 0.75)
    assert Budget(180.0, client_side=False).gate_until(1000.0) == 1180.0


@pytest.mark.parametrize(("now", "until"), [
    (1040.0, 1085.0),  # the gate ended early: the client side gets its whole share
    (1135.0, 1108.0),  # the gate used its share: the client side ends before the large share
])
def test_the_client_side_gets_its_share_but_leaves_the_large_rounds_theirs(
    now: float, until: float,
) -> None:
    assert Budget(180.0).client_until(now, started=1000.0) == pytest.approx(until)


def test_the_diagnosis_and_the_large_rounds_get_their_shares_from_now() -> None:
    budget = Budget(100.0)
    assert budget.diagnosis_until(500.0) == pytest.approx(525.0)
    assert budget.large_until(500.0) == pytest.approx(540.0)


def test_without_large_transfers_their_share_goes_to_the_client_side() -> None:
    budget = Budget.of(BenchSettings(budget_s=100.0, operations=("get_run", "set_tag")))
    assert budget.large_share == 0.0 and budget.large_until(500.0) == 500.0
    assert budget.client_until(1080.0, started=1000.0) == pytest.approx(1100.0)
    assert Budget.of(BenchSettings(operations=("get_run", "download_64mb"))).large_share == 0.4


def test_the_shares_come_from_the_tuning() -> None:
    tuning = Tuning(client_share=0.5, large_share=0.1, diagnosis_share=0.2)
    budget = Budget.of(BenchSettings(budget_s=100.0, tuning=tuning))
    assert budget.gate_until(0.0) == 50.0 and budget.client_until(0.0, 0.0) == 50.0
    assert budget.diagnosis_until(0.0) == 20.0 and budget.large_until(0.0) == 10.0


def test_the_minimum_rounds_are_played_past_the_deadline() -> None:
    loop = Rounds(minimum=4, deadline=10.0, threshold=0.2)
    played = loop_rounds(loop, noisy({"get_run": 0.01}), ["get_run"], round_s=30.0)
    assert played == [["get_run"]] * 4


def test_an_exhausted_budget_ends_the_loop_after_the_minimum() -> None:
    loop = Rounds(minimum=4, deadline=100.0, threshold=0.2)
    undecided_samples = noisy({"get_run": 0.01})
    assert loop.next(undecided_samples, ["get_run"], 4, now=99.9) == ["get_run"]
    assert loop.next(undecided_samples, ["get_run"], 4, now=100.0) == []
    assert len(loop_rounds(loop, undecided_samples, ["get_run"], round_s=10.0)) == 10


def test_nothing_undecided_ends_the_loop_before_the_deadline() -> None:
    decided = steady({"get_run": (0.01, 0.01), "search_runs": (0.02, 0.05)}, rounds=12)
    loop = Rounds(minimum=4, deadline=1e9, threshold=0.2)
    assert loop_rounds(loop, decided, ["get_run", "search_runs"], round_s=1.0) == [
        ["get_run", "search_runs"]] * 4


def test_the_loop_stops_at_the_cap_whatever_the_minimum() -> None:
    undecided_samples = noisy({"get_run": 0.01})
    assert len(loop_rounds(Rounds(4, math.inf, 0.2), undecided_samples, ["get_run"],
                           round_s=0.0)) == TUNING.max_fast_rounds
    capped = Rounds(minimum=8, deadline=math.inf, threshold=0.2,
                    tuning=Tuning(max_fast_rounds=5))
    assert len(loop_rounds(capped, undecided_samples, ["get_run"], round_s=0.0)) == 5


def test_no_operations_no_rounds() -> None:
    assert Rounds(4, math.inf, 0.2).next(Samples(), [], 0, now=0.0) == []


def test_after_the_minimum_only_undecided_operations_get_rounds() -> None:
    samples = steady({"get_run": (0.01, 0.01)}, rounds=12)
    for jitter in (0.6, 1.5, 0.7, 1.4):
        samples.add({"set_tag": {OLD: 0.01, NEW: 0.01 * jitter}})
    loop = Rounds(minimum=4, deadline=math.inf, threshold=0.2)
    assert loop.next(samples, ["get_run", "set_tag"], 3, now=0.0) == ["get_run", "set_tag"]
    assert loop.next(samples, ["get_run", "set_tag"], 4, now=0.0) == ["set_tag"]


def test_expensive_operations_join_every_nth_round_by_the_tuning() -> None:
    samples = noisy({"get_run": 0.05, "log_model": 4.0})
    both = ["get_run", "log_model"]
    every_2 = Tuning(expensive_every=2)
    assert [undecided(samples, both, 0.2, i, every_2) for i in (4, 5, 6, 7)] == [
        both, ["get_run"], both, ["get_run"]]
    all_cheap = Tuning(cheap_s=10.0)
    assert undecided(samples, both, 0.2, 5, all_cheap) == both


def test_a_change_is_confirmed_in_the_tunings_rounds() -> None:
    slower = steady({"transition_stage": (0.012, 0.024)}, rounds=4)
    assert undecided(slower, ["transition_stage"], 0.2) == ["transition_stage"]
    assert undecided(slower, ["transition_stage"], 0.2, tuning=Tuning(confirm_rounds=4)) == []


def test_the_first_large_round_always_runs() -> None:
    assert schedule.another_fits(0, now=500.0, last_s=0.0, until=100.0)


@pytest.mark.parametrize(("now", "room", "fits"), [
    (80.0, 1, True),  # 80 + 20 ends at the deadline: fits
    (80.1, 1, False),
    (60.0, 2, True),  # a further old download leaves room for its new partner
    (60.1, 2, False),
])
def test_another_large_round_runs_only_when_it_fits(now: float, room: int, fits: bool) -> None:
    assert schedule.another_fits(1, now=now, last_s=20.0, until=100.0, room=room) is fits


def test_each_large_transfer_gets_its_part_of_what_is_left() -> None:
    assert schedule.part_until(100.0, 160.0, 2) == 130.0
    assert schedule.part_until(130.0, 160.0, 1) == 160.0
    assert schedule.part_until(100.0, math.inf, 2) == math.inf  # a remedy's rounds: no deadline


def test_uploads_come_before_downloads() -> None:
    ordered = schedule.large_order(["download_64mb", "upload_64mb"])
    assert ordered == ["upload_64mb", "download_64mb"]


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_every_process_and_first_server_once_per_cycle(processes: int) -> None:
    cycle = [condition(i, processes) for i in range(2 * processes)]
    assert {(c.process, c.first) for c in cycle} == {
        (p, first) for p in range(processes) for first in (OLD, NEW)}
    assert [c.order for c in cycle[:processes]] == [(OLD, NEW)] * processes
    assert [c.order for c in cycle[processes:]] == [(NEW, OLD)] * processes
    assert condition(2 * processes, processes) == cycle[0]
