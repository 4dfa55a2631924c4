"""The DeltaOne rule, as plain arithmetic (stdlib only: imported by MLflow environments and by
the harness's own unit tests alike).

A newest model version *achieves DeltaOne* when its benchmark metric beats the baseline's by at
least one percentage point: `delta >= 0.01` on a 0-1 metric, inclusive.

Floating-point rule: both values are taken at their shortest decimal form (`repr` of the
float64, which is what MLflow stores and the tags hold as text) and subtracted as decimals.
So 0.56 -> 0.57 is a delta of exactly 0.01 and achieves DeltaOne, although `0.57 - 0.56` in
binary floating point is 0.009999999999999898. A metric where lower is better (a loss) counts
the decrease: `delta = baseline - current`.
"""

from __future__ import annotations

from decimal import Decimal

THRESHOLD = "0.01"
HIGHER = "higher"
LOWER = "lower"
DIRECTIONS = (HIGHER, LOWER)


def as_decimal(value: float | str) -> Decimal:
    """A metric value (float) or tag value (text) at its shortest decimal form."""
    number = Decimal(repr(float(value)))
    if not number.is_finite():
        raise ValueError(f"not a finite metric value: {value!r}")
    return number


def delta(baseline: float | str, current: float | str, direction: str = HIGHER) -> Decimal:
    """Improvement of `current` over `baseline`: positive is better, whatever the direction."""
    if direction not in DIRECTIONS:
        raise ValueError(f"benchmark direction must be one of {DIRECTIONS}, not {direction!r}")
    change = as_decimal(current) - as_decimal(baseline)
    return change if direction == HIGHER else -change


def achieves(improvement: Decimal, threshold: float | str = THRESHOLD) -> bool:
    """At least `threshold`, inclusive."""
    return improvement >= Decimal(str(threshold))
