"""Per-route latency from the same replay: new/old with an interval (the benchmark's statistics,
`harness/bench/stats.py`), and old/old beside it, the spread two identical servers show.

Each request went to A, B and the new server at once, so its three times are a round of
interleaved samples as the benchmark takes them: paired log-ratios, Hodges–Lehmann estimate,
signed-rank interval. A route keeps at most SAMPLES rounds (reservoir sampling, seeded: the
same recording keeps the same rounds), so memory does not grow with the recording.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from harness.bench.stats import MIN_ROUNDS, Comparison, compare

SAMPLES = 400
SEED = 33


@dataclass
class RouteTimes:
    requests: int = 0
    rounds: list[tuple[float, float, float]] = field(default_factory=list)  # (a, b, new)


def _interval(comparison: Comparison) -> dict[str, Any]:
    return {"ratio": round(comparison.ratio, 3), "low": round(comparison.low, 3),
            "high": round(comparison.high, 3)}


class Timing:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.routes: dict[str, RouteTimes] = {}
        self._random = random.Random(SEED)

    def add(self, route: str, a: float, b: float, new: float) -> None:
        if min(a, b, new) <= 0:
            return
        times = self.routes.setdefault(route, RouteTimes())
        times.requests += 1
        if len(times.rounds) < SAMPLES:
            times.rounds.append((a, b, new))
            return
        slot = self._random.randrange(times.requests)
        if slot < SAMPLES:
            times.rounds[slot] = (a, b, new)

    def result(self) -> dict[str, Any]:
        """Per route with enough rounds: new/old and old/old with their intervals, the verdict
        against the threshold, and the medians."""
        routes: dict[str, Any] = {}
        for route, times in sorted(self.routes.items()):
            if len(times.rounds) < MIN_ROUNDS:
                continue
            a = [r[0] for r in times.rounds]
            b = [r[1] for r in times.rounds]
            new = [r[2] for r in times.rounds]
            versus = compare(a, new, self.threshold)
            routes[route] = {
                "requests": times.requests, "rounds": len(times.rounds),
                **_interval(versus), "verdict": versus.verdict.value,
                "old_median_ms": round(versus.old_median_s * 1000, 2),
                "new_median_ms": round(versus.new_median_s * 1000, 2),
                "old_vs_old": _interval(compare(a, b, self.threshold)),
            }
        return {"threshold": self.threshold, "routes": routes}
