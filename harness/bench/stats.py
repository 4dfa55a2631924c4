"""Is the new version slower? Statistics for interleaved timings, with a verdict per operation.

Samples come in rounds: in round i the old server answered in `old[i]` and the new one in
`new[i]`, back to back, so drift of the machine hits both alike. The analysis works on the
paired log-ratios d_i = ln(new_i / old_i):

- the ratio estimate is exp(Hodges-Lehmann estimate of d): the median of the Walsh averages
  (d_i + d_j) / 2, i <= j; robust to the odd slow sample that makes means and naive medians lie;
- its 95% confidence interval comes from the Wilcoxon signed-rank distribution (exact order
  statistics of the Walsh averages, normal approximation for the critical rank); with fewer
  than 6 rounds (only the 64 MB transfers) a Student's t interval on the mean log-ratio;
- the rank test is the Wilcoxon signed-rank test of "no difference" (two-sided p-value).

Verdict against a threshold t (default 20%), in log space: `regression` when the whole
interval lies above 1+t, `improvement` when it lies below 1/(1+t), `unchanged` when it lies
below 1+t otherwise (not slower than the threshold: what the gate asks), and `inconclusive`
when it straddles 1+t, with the number of extra rounds that would likely settle it (the
interval narrows as 1/sqrt(n)). The schedule spends its rounds on the inconclusive ones.

When the rounds run out (`settle`), an operation still straddling 1+t is judged by its
estimate: a **regression** when the estimate is above 1+t and the whole interval above
1 + t/2, so an operation at most half the threshold slower is called a regression with a
probability of at most 2.5 % (the interval's lower bound is a one-sided 97.5 % bound); otherwise
it stays inconclusive, and only one whose estimate is above 1+t is worth a reader's attention.
A gate sold as "more than 20 % slower fails" must not let a 25 % slowdown through because its
interval still touches 1.20×.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from statistics import NormalDist, median

CONFIDENCE = 0.95
MIN_ROUNDS = 6  # below this the signed-rank interval cannot reach 95%
# Two-sided 97.5% quantiles of Student's t for 1..5 degrees of freedom: the interval used for
# operations too slow to repeat six times (a 64 MB transfer), on the mean log-ratio.
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}
# Quantile 0.9875 (two-sided 97.5%: two strata, each at 97.5%, Bonferroni for a 95% family).
T_9875 = {1: 25.452, 2: 6.205, 3: 4.177, 4: 3.495, 5: 3.163}
T_TABLES = {0.95: T_975, 0.975: T_9875}
STRATA_APART = 1.15  # stratum medians further apart than this: compare each stratum alone


class Verdict(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    UNCHANGED = "unchanged"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Comparison:
    """new/old for one operation: estimate, interval, test, verdict."""

    rounds: int
    ratio: float
    low: float
    high: float
    p_value: float
    verdict: Verdict
    more_rounds: int | None  # for inconclusive: rounds to add that would likely settle it
    old_median_s: float
    new_median_s: float
    # "interval": the interval decided it; "estimate": the rounds ran out and `settle` did.
    decided_by: str = "interval"

    def over(self, threshold: float) -> bool:
        """Whether the estimate is above the threshold (1+t)."""
        return self.ratio > 1 + threshold

    def describe(self, threshold: float) -> str:
        interval = f"{self.ratio:.2f}× [{self.low:.2f}, {self.high:.2f}]"
        if self.decided_by == "estimate":
            return (f"regression: {interval}, decided when the rounds ran out: the interval "
                    f"straddles {1 + threshold:.2f}×, the estimate is above it and the whole "
                    f"interval above {1 + threshold / 2:.2f}×")
        if self.verdict is Verdict.INCONCLUSIVE:
            side = "above" if self.over(threshold) else "below"
            hint = (f"; about {self.more_rounds} more rounds would settle it"
                    if self.more_rounds else "")
            return (f"inconclusive: {interval} straddles {1 + threshold:.2f}×, the estimate "
                    f"{side} it{hint}")
        return f"{self.verdict.value}: {interval}"


def walsh_averages(values: list[float]) -> list[float]:
    n = len(values)
    return sorted((values[i] + values[j]) / 2 for i in range(n) for j in range(i, n))


def signed_rank_p_value(differences: list[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value (normal approximation, ties and zeros handled)."""
    nonzero = [d for d in differences if d != 0.0]
    n = len(nonzero)
    if n == 0:
        return 1.0
    ordered = sorted(nonzero, key=abs)
    ranks = [0.0] * n
    i = 0
    tie_term = 0.0
    while i < n:
        j = i
        while j + 1 < n and abs(ordered[j + 1]) == abs(ordered[i]):
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = rank
        size = j - i + 1
        tie_term += size**3 - size
        i = j + 1
    positive = sum(r for r, d in zip(ranks, ordered, strict=True) if d > 0)
    mean = n * (n + 1) / 4
    variance = n * (n + 1) * (2 * n + 1) / 24 - tie_term / 48
    if variance <= 0:
        return 1.0
    z = (abs(positive - mean) - 0.5) / math.sqrt(variance)
    return min(1.0, 2 * (1 - NormalDist().cdf(max(z, 0.0))))


def hodges_lehmann(differences: list[float], confidence: float = CONFIDENCE
                   ) -> tuple[float, float, float]:
    """(estimate, low, high) of the location of `differences`, from their Walsh averages."""
    averages = walsh_averages(differences)
    n, m = len(differences), len(averages)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    critical = n * (n + 1) / 4 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    k = max(int(math.floor(critical)), 0)
    return median(averages), averages[k], averages[m - 1 - k]


def t_interval(values: list[float], confidence: float = CONFIDENCE
               ) -> tuple[float, float, float]:
    """(mean, low, high): Student's t interval, for fewer rounds than the rank interval needs."""
    n = len(values)
    mean = sum(values) / n
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = T_TABLES[confidence][n - 1] * spread / math.sqrt(n)
    return mean, mean - half, mean + half


def compare(old: list[float], new: list[float], threshold: float = 0.20,
            confidence: float = CONFIDENCE) -> Comparison:
    """Paired comparison of interleaved samples (seconds), new against old."""
    if len(old) != len(new):
        raise ValueError("interleaved samples come in pairs: old and new must be equally long")
    if len(old) < 2:
        raise ValueError(f"at least 2 rounds are needed, got {len(old)}")
    if min(old + new) <= 0:
        raise ValueError("timings must be positive")
    logs = [math.log(b / a) for a, b in zip(old, new, strict=True)]
    if len(logs) >= MIN_ROUNDS:
        estimate, low, high = hodges_lehmann(logs, confidence)
    else:
        estimate, low, high = t_interval(logs, confidence)
    bound = math.log(1 + threshold)
    verdict = verdict_of(low, high, bound)
    return Comparison(
        rounds=len(old),
        ratio=math.exp(estimate),
        low=math.exp(low),
        high=math.exp(high),
        p_value=signed_rank_p_value(logs),
        verdict=verdict,
        more_rounds=_more_rounds(len(old), estimate, low, high, bound)
        if verdict is Verdict.INCONCLUSIVE else None,
        old_median_s=median(old),
        new_median_s=median(new),
    )


def verdict_of(low: float, high: float, bound: float) -> Verdict:
    """The verdict of an interval of log-ratios against ±`bound` (ln(1+t))."""
    if low > bound:
        return Verdict.REGRESSION
    if high < -bound:
        return Verdict.IMPROVEMENT
    if high <= bound:
        return Verdict.UNCHANGED
    return Verdict.INCONCLUSIVE


def settle(comparison: Comparison, threshold: float) -> Comparison:
    """The rounds have run out: an operation still straddling 1+t is a regression when its
    estimate is above 1+t and its whole interval above 1 + t/2 (module docstring)."""
    if comparison.verdict is not Verdict.INCONCLUSIVE or not comparison.over(threshold):
        return comparison
    if comparison.low > 1 + threshold / 2:
        return replace(comparison, verdict=Verdict.REGRESSION, more_rounds=None,
                       decided_by="estimate")
    return comparison


def compare_strata(old: list[float], new: list[float], strata: list[str],
                   threshold: float = 0.20) -> tuple[Comparison, dict[str, Comparison]]:
    """Paired comparison within each stratum (e.g. kept-alive and new connections), each at
    97.5% when there are two (a 95% family): a condition that changes the time of both sides
    alike is not averaged into a bimodal interval that can decide nothing.

    The verdict: a regression (improvement) when a stratum says so (no stratum says the
    opposite); unchanged when every stratum is; otherwise inconclusive. The comparison
    returned is the stratum behind the verdict; strata with fewer than 2 rounds are left out
    (with none left, all rounds are one stratum), and strata whose times hardly differ are
    compared as one (`_strata_differ`). The per-stratum comparisons are returned either way,
    as evidence."""
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(strata[:len(old)]):
        groups.setdefault(label, []).append(index)
    usable = {label: idx for label, idx in groups.items() if len(idx) >= 2}
    if len(usable) <= 1 or len(strata) < len(old) or not _strata_differ(old, new, usable):
        whole = compare(old, new, threshold)
        return whole, {label: compare([old[i] for i in idx], [new[i] for i in idx], threshold)
                       for label, idx in usable.items()}
    confidence = 1 - (1 - CONFIDENCE) / len(usable)
    if confidence not in T_TABLES:
        confidence = CONFIDENCE
    by = {label: compare([old[i] for i in idx], [new[i] for i in idx], threshold, confidence)
          for label, idx in usable.items()}
    verdicts = {c.verdict for c in by.values()}
    if Verdict.REGRESSION in verdicts and Verdict.IMPROVEMENT not in verdicts:
        chosen = max(by.values(), key=lambda c: c.low)
    elif Verdict.IMPROVEMENT in verdicts and Verdict.REGRESSION not in verdicts:
        chosen = min(by.values(), key=lambda c: c.high)
    elif verdicts == {Verdict.UNCHANGED}:
        chosen = max(by.values(), key=lambda c: max(c.high, 1 / c.low))
    else:
        chosen = max((c for c in by.values() if c.verdict is Verdict.INCONCLUSIVE),
                     key=lambda c: c.high / c.low, default=next(iter(by.values())))
        if chosen.verdict is not Verdict.INCONCLUSIVE:  # a regression and an improvement
            chosen = replace(chosen, verdict=Verdict.INCONCLUSIVE, more_rounds=None)
    return chosen, by


def _strata_differ(old: list[float], new: list[float], strata: dict[str, list[int]]) -> bool:
    """Whether the condition moves either side's time by more than `STRATA_APART` (then each
    stratum is its own comparison; otherwise all rounds are one, at 95%: an operation of
    seconds is not bimodal because its requests paid 40 ms more on kept-alive connections)."""
    for side in (old, new):
        medians = [median(side[i] for i in idx) for idx in strata.values()]
        if max(medians) > STRATA_APART * min(medians):
            return True
    return False


def _more_rounds(n: int, estimate: float, low: float, high: float, bound: float) -> int | None:
    """Rounds to add so that the interval (narrowing as 1/sqrt(n)) clears the threshold."""
    half_width = (high - low) / 2
    distance = abs(estimate - bound)
    if distance < 1e-9:
        return None
    needed = math.ceil(n * (half_width / distance) ** 2)
    return max(needed - n, 1)


def median_rule_fails(old: list[float], new: list[float], threshold: float = 0.20) -> bool:
    """pytest-benchmark's own `--benchmark-compare-fail=median:<threshold>%` check, applied to
    the same samples (its PercentageRegressionCheck on the two medians)."""
    from pytest_benchmark.utils import parse_compare_fail

    check = parse_compare_fail(f"median:{round(threshold * 100)}%")  # type: ignore[no-untyped-call]
    return bool(check.fails({"median": median(new)}, {"median": median(old)}))
