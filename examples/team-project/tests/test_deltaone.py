"""Unit tests: the DeltaOne rule, no server needed."""

from decimal import Decimal

from team_mlops.deltaone import achieves, delta, thresholds


def test_exactly_one_point_counts() -> None:
    assert delta(0.56, 0.57) == Decimal("0.01")
    assert achieves(0.56, 0.57)


def test_below_one_point_does_not() -> None:
    assert not achieves(0.80, 0.805)


def test_lower_is_better() -> None:
    assert achieves(0.40, 0.37, "lower")
    assert not achieves(0.40, 0.45, "lower")


def test_thresholds_say_one_point_higher() -> None:
    threshold = thresholds("accuracy")["accuracy"]
    assert threshold.min_absolute_change == 0.01
    assert threshold.greater_is_better
