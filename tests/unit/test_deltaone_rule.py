"""The DeltaOne arithmetic on values with known answers, floating-point traps included."""

from __future__ import annotations

import math
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scenarios" / "clients"))
from deltaone_rule import achieves, as_decimal, delta  # noqa: E402


@pytest.mark.parametrize(
    ("baseline", "current", "direction", "improvement", "achieved"),
    [
        (0.80, 0.86, "higher", "0.06", True),
        (0.80, 0.805, "higher", "0.005", False),
        (0.57, 0.58, "higher", "0.01", True),  # exactly at the threshold: inclusive
        (0.56, 0.57, "higher", "0.01", True),
        (0.40, 0.37, "lower", "0.03", True),  # a loss that fell
        (0.40, 0.45, "lower", "-0.05", False),  # a loss that rose
        (0.90, 0.85, "higher", "-0.05", False),  # a regression
        (0.75, 0.759999, "higher", "0.009999", False),  # just below
        ("0.8", 0.81, "higher", "0.01", True),  # baseline from a tag (text)
    ],
)
def test_known_answers(
    baseline: float | str, current: float, direction: str, improvement: str, achieved: bool
) -> None:
    assert delta(baseline, current, direction) == Decimal(improvement)
    assert achieves(delta(baseline, current, direction)) is achieved


def test_binary_floats_would_miss_exactly_one_point() -> None:
    """Why the rule is decimal: naive subtraction says 0.56 -> 0.57 is below 0.01."""
    assert 0.57 - 0.56 < 0.01
    assert achieves(delta(0.56, 0.57))


def test_threshold_is_configurable_and_inclusive() -> None:
    assert achieves(Decimal("0.02"), "0.02")
    assert not achieves(Decimal("0.0199"), 0.02)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "nan", "-inf"])
def test_non_finite_values_are_refused(bad: float | str) -> None:
    with pytest.raises(ValueError, match="finite"):
        as_decimal(bad)


def test_unknown_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="direction"):
        delta(0.5, 0.6, "sideways")
