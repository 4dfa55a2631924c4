"""The gate's statistics on synthetic samples whose answer is known."""

from __future__ import annotations

import math
import random

import pytest

from harness.bench.stats import (
    Verdict,
    compare,
    hodges_lehmann,
    median_rule_fails,
    signed_rank_p_value,
    walsh_averages,
)


def rounds(n: int, factor: float, noise: float, seed: int, base: float = 0.010
           ) -> tuple[list[float], list[float]]:
    """Interleaved pairs: a shared drift per round, independent log-normal noise per sample."""
    rng = random.Random(seed)
    old, new = [], []
    for _ in range(n):
        drift = math.exp(rng.gauss(0, 0.05))
        old.append(base * drift * math.exp(rng.gauss(0, noise)))
        new.append(base * factor * drift * math.exp(rng.gauss(0, noise)))
    return old, new


def test_walsh_averages_and_hodges_lehmann_on_known_values() -> None:
    assert walsh_averages([1.0, 3.0]) == [1.0, 2.0, 3.0]
    estimate, low, high = hodges_lehmann([float(v) for v in range(1, 21)])
    assert estimate == 10.5  # symmetric data: the centre
    assert low < 10.5 < high


def test_hodges_lehmann_ignores_one_wild_sample() -> None:
    clean = [0.0, 0.1, -0.1, 0.05, -0.05, 0.02, -0.02, 0.03, -0.03, 0.0]
    assert abs(hodges_lehmann(clean + [50.0])[0]) < 0.05


def test_signed_rank_p_values() -> None:
    assert signed_rank_p_value([0.1 * (i + 1) for i in range(12)]) < 0.01  # all positive
    assert signed_rank_p_value([(-1) ** i * (i + 1) for i in range(12)]) > 0.5  # balanced
    assert signed_rank_p_value([0.0] * 8) == 1.0


def test_same_distribution_is_unchanged() -> None:
    old, new = rounds(30, 1.0, 0.05, seed=1)
    result = compare(old, new)
    assert result.verdict is Verdict.UNCHANGED
    assert result.low < 1.0 < result.high


def test_a_fifty_percent_slowdown_is_a_regression() -> None:
    old, new = rounds(20, 1.5, 0.10, seed=2)
    result = compare(old, new)
    assert result.verdict is Verdict.REGRESSION
    assert 1.2 < result.low < 1.5 < result.high
    assert result.p_value < 0.001


def test_a_halving_is_an_improvement() -> None:
    old, new = rounds(20, 0.5, 0.10, seed=3)
    assert compare(old, new).verdict is Verdict.IMPROVEMENT


def test_a_slowdown_at_the_threshold_is_inconclusive_and_says_how_many_more_rounds() -> None:
    old, new = rounds(12, 1.25, 0.15, seed=4)
    result = compare(old, new)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.more_rounds is not None and result.more_rounds > 0
    assert "more rounds would settle it" in result.describe(0.20)


def test_thirty_percent_slower_is_caught_with_enough_rounds() -> None:
    old, new = rounds(40, 1.30, 0.04, seed=5)
    assert compare(old, new).verdict is Verdict.REGRESSION


def test_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    covered = 0
    trials = 300
    for seed in range(trials):
        old, new = rounds(20, 1.1, 0.2, seed=100 + seed)
        result = compare(old, new)
        covered += result.low <= 1.1 <= result.high
    assert 0.90 <= covered / trials <= 0.99


def test_no_false_regressions_on_same_version_noise() -> None:
    """The property the gate is for: heavy noise, no real change, no alarm."""
    alarms = sum(compare(*rounds(20, 1.0, 0.25, seed=1000 + s)).verdict is Verdict.REGRESSION
                 for s in range(200))
    assert alarms == 0


def test_median_rule_is_pytest_benchmarks_own() -> None:
    assert median_rule_fails([1.0] * 5, [1.21] * 5)
    assert not median_rule_fails([1.0] * 5, [1.19] * 5)
    assert not median_rule_fails([1.0] * 5, [1.2] * 5)  # "> 20%" fails, 20% does not


@pytest.mark.parametrize(("old", "new", "problem"), [
    ([1.0] * 6, [1.0] * 5, "pairs"),
    ([1.0], [1.0], "at least"),
    ([1.0] * 5 + [0.0], [1.0] * 6, "positive"),
])
def test_bad_samples_are_refused(old: list[float], new: list[float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        compare(old, new)


def test_few_rounds_use_a_t_interval_that_still_catches_a_huge_slowdown() -> None:
    old, new = [3.1, 3.3], [55.0, 61.0]  # 64 MB downloads: 2.9.2 against 3.4.0
    result = compare(old, new)
    assert result.verdict is Verdict.REGRESSION and result.low > 5
    assert compare([3.1, 3.3, 3.2], [3.2, 3.1, 3.3]).verdict is Verdict.UNCHANGED
    noisy = compare([3.1, 3.3, 3.2], [3.0, 4.6, 3.3])
    assert noisy.verdict is Verdict.INCONCLUSIVE and noisy.more_rounds


def test_strata_are_compared_apart_only_when_the_condition_moves_the_times() -> None:
    from harness.bench.stats import compare_strata

    strata = ["reused", "fresh"] * 6
    # kept-alive 48 ms vs new 5 ms on both sides: two comparisons, each unchanged
    old = [0.048 if s == "reused" else 0.005 for s in strata]
    new = [t * (1.02 if i % 3 else 0.98) for i, t in enumerate(old)]
    chosen, by = compare_strata(old, new, strata)
    assert set(by) == {"reused", "fresh"} and chosen.verdict is Verdict.UNCHANGED
    assert chosen.rounds == 6, "a stratum's comparison, not all 12 rounds"
    # seconds-long operation, 3% apart between strata: all rounds are one comparison
    slow_old = [3.70 if s == "reused" else 3.60 for s in strata]
    slow_new = [t * 1.01 for t in slow_old]
    pooled, by = compare_strata(slow_old, slow_new, strata)
    assert pooled.rounds == 12 and pooled.verdict is Verdict.UNCHANGED
    assert set(by) == {"reused", "fresh"}, "the strata are still reported as evidence"
    # slower on kept-alive connections only: a regression, shown by that stratum
    slowed = [t + 0.040 if s == "reused" else t for t, s in zip(old, strata, strict=True)]
    worst, by = compare_strata(old, slowed, strata)
    assert worst.verdict is Verdict.REGRESSION and by["fresh"].verdict is Verdict.UNCHANGED
    assert worst is by["reused"]
