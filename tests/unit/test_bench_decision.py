"""The gate's decision near its threshold, on recorded samples.

A real 2.9.2 → 3.4.0 run's per-round samples (tests/fixtures/recorded/) keep their noise and
are shifted so that the estimate lands where a test needs it: just over the line (+25 %), just
under it (+12 %), or on no change at all. The rule at the edges: an interval straddling
1.20× is settled by the estimate when the rounds run out (a regression only when the whole
interval is above 1.10× too); an undecided operation is a caveat only when its estimate is
over the line; past the deadline, straddlers more rounds would settle get them, within a bound.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from harness.bench.analysis import Samples, analyse, discount_client_side
from harness.bench.result import BenchmarkResult
from harness.bench.schedule import Rounds, extension_until, straddlers
from harness.bench.stats import Verdict, compare, hodges_lehmann, settle
from harness.bench.tuning import BenchSettings, Tuning
from harness.results.phase import Upgrade

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / \
    "upgrade-2.9.2-3.4.0.results.json.gz"
T = 0.20
UPGRADE = Upgrade("2.9.2", "3.4.0")


def _recorded(op: str, group: str = "server_side") -> tuple[list[float], list[float]]:
    data = json.loads(gzip.decompress(RECORDED.read_bytes()))
    samples = data["benchmark"][group]["operations"][op]["samples"]
    return samples["old"], samples["new"]


def shifted(op: str, ratio: float, group: str = "server_side") -> tuple[list[float], list[float]]:
    """`op`'s recorded rounds, the new side moved so the estimate is `ratio`, noise kept."""
    old, new = _recorded(op, group)
    logs = [math.log(b / a) for a, b in zip(old, new, strict=True)]
    centre = hodges_lehmann(logs)[0]
    return old, [a * math.exp(d - centre + math.log(ratio)) for a, d in zip(old, logs,
                                                                           strict=True)]


def _result(op: str, ratio: float, settings: BenchSettings | None = None) -> BenchmarkResult:
    samples = Samples()
    old, new = shifted(op, ratio)
    for a, b in zip(old, new, strict=True):
        samples.add({op: {"old": a, "new": b}})
    settings = settings or BenchSettings()
    return BenchmarkResult({"settings": {"threshold": settings.threshold},
                            "server_side": analyse(samples, settings)})


def test_just_over_the_line_a_straddler_is_a_regression_by_its_estimate() -> None:
    old, new = shifted("get_run", 1.25)
    interval = compare(old, new, T)
    assert interval.verdict is Verdict.INCONCLUSIVE and interval.low < 1.2 < interval.high
    settled = settle(interval, T)
    assert settled.verdict is Verdict.REGRESSION and settled.decided_by == "estimate"
    assert "decided when the rounds ran out" in settled.describe(T)
    result = _result("get_run", 1.25)
    (reason,) = result.blocking(UPGRADE)
    assert reason.startswith("1 operation(s) more than 20% slower: get_run (server) 1.25×")
    assert result.caveats(UPGRADE) == []


def test_over_the_line_but_wide_down_to_no_change_stays_undecided_and_is_a_caveat() -> None:
    old, new = shifted("log_batch_1000", 1.25)
    interval = compare(old, new, T)
    assert interval.over(T) and interval.low <= 1 + T / 2  # could be half the threshold
    assert settle(interval, T).verdict is Verdict.INCONCLUSIVE
    result = _result("log_batch_1000", 1.25)
    assert result.blocking(UPGRADE) == []
    (caveat,) = result.caveats(UPGRADE)
    assert caveat.startswith("performance undecided for 1 operation(s) whose estimate is over "
                             "the 20% threshold: log_batch_1000 (server) 1.25×")


@pytest.mark.parametrize("op", ["get_run", "transition_stage", "get_metric_history_5000"])
def test_under_the_line_a_straddler_is_neither_a_regression_nor_a_caveat(op: str) -> None:
    old, new = shifted(op, 1.12)
    interval = compare(old, new, T)
    assert not interval.over(T)
    assert settle(interval, T).verdict is not Verdict.REGRESSION
    result = _result(op, 1.12)
    assert result.blocking(UPGRADE) == [] and result.caveats(UPGRADE) == []


def test_fail_on_inconclusive_blocks_every_undecided_one() -> None:
    strict = BenchSettings(fail_on_inconclusive=True)
    result = _result("get_run", 1.12, strict)
    assert result.with_verdicts("inconclusive") == ["get_run (server)"]
    assert any("--fail-on-inconclusive" in r for r in result.blocking(UPGRADE))
    assert result.caveats(UPGRADE) == []


def test_no_change_is_never_a_regression_whatever_the_noise() -> None:
    data = json.loads(gzip.decompress(RECORDED.read_bytes()))
    for group in ("server_side", "client_side"):
        for op, item in data["benchmark"][group]["operations"].items():
            if len(item["samples"]["old"]) < 2:
                continue
            old, new = shifted(op, 1.0, group)
            assert settle(compare(old, new, T), T).verdict is not Verdict.REGRESSION, op


def test_an_interval_under_the_threshold_is_unchanged_down_to_the_improvement_bound() -> None:
    old, new = shifted("get_metric_history_5000", 0.92)  # wide: reaches below 1/1.2
    interval = compare(old, new, T)
    assert interval.low < 1 / 1.2 and interval.high < 1.2
    assert interval.verdict is Verdict.UNCHANGED  # not slower than the line: decided


def _straddling_samples(op: str, ratio: float) -> Samples:
    samples = Samples()
    old, new = shifted(op, ratio)
    for a, b in zip(old, new, strict=True):
        samples.add({op: {"old": a, "new": b}})
    return samples


def test_past_the_deadline_straddlers_more_rounds_would_settle_get_them_within_a_bound() -> None:
    samples = _straddling_samples("get_run", 1.25)
    tuning = Tuning(straddler_rounds=120)
    rounds = len(samples.old["get_run"])
    needed = samples.compare("get_run", T)[0].more_rounds
    assert needed is not None and rounds + needed <= 120
    loop = Rounds(4, deadline=100.0, threshold=T, tuning=tuning, extended=150.0)
    assert loop.next(samples, ["get_run"], rounds, now=120.0) == ["get_run"]  # extension
    assert loop.next(samples, ["get_run"], rounds, now=150.0) == []  # the bound
    without = Rounds(4, deadline=100.0, threshold=T, tuning=tuning)
    assert without.next(samples, ["get_run"], rounds, now=120.0) == []
    # More rounds than the cap allows, or than the time left: left to `settle`.
    assert straddlers(samples, ["get_run"], T, 120 - needed + 1, 50.0, tuning) == []
    assert straddlers(samples, ["get_run"], T, rounds, 1e-6, tuning) == []


def test_the_extension_is_a_share_of_the_loops_own_time() -> None:
    assert extension_until(started=10.0, deadline=100.0, tuning=Tuning(
        straddler_extension=1 / 3)) == pytest.approx(130.0)
    assert extension_until(started=100.0, deadline=90.0) == 90.0  # already past: nothing more


def test_a_client_side_difference_the_clients_do_not_explain_is_not_a_regression() -> None:
    """transition_stage: the 3.4.0 client sends 2 requests where 2.9.2 sent 1 (explained, it
    counts); set_get_alias: same requests, same statements, similar own work (the server's or
    noise: it leaves the client side's gate and the causes)."""
    def op(explained: bool) -> dict[str, object]:
        return {"verdict": "regression", "ratio": 1.8, "low": 1.4, "high": 2.2,
                "explained": explained, "explanation": "…"}

    result: dict[str, object] = {
        "settings": {"threshold": 0.2},
        "server_side": {"operations": {}, "gate": {"passed": True, "regressions": []}},
        "client_side": {"operations": {"transition_stage": op(True), "set_get_alias": op(False)},
                        "gate": {"passed": False, "inconclusive": [],
                                 "regressions": ["set_get_alias", "transition_stage"]}},
        "causes": [{"id": "unexplained", "operations": ["set_get_alias (client)"]},
                   {"id": "other", "operations": ["transition_stage (client)"]}]}
    discount_client_side(result)
    client = result["client_side"]
    assert isinstance(client, dict)
    assert client["gate"]["regressions"] == ["transition_stage"]
    assert client["gate"]["not_client_differences"] == ["set_get_alias"]
    assert client["gate"]["passed"] is False  # transition_stage still counts
    assert [c["id"] for c in result["causes"]] == ["other"]  # type: ignore[union-attr]
    bench = BenchmarkResult(result)
    assert bench.with_verdicts("regression") == ["transition_stage (client) 1.80×"]
    only_noise = {**result, "client_side": {
        "operations": {"set_get_alias": op(False)},
        "gate": {"passed": False, "inconclusive": [], "regressions": ["set_get_alias"]}},
        "causes": []}
    discount_client_side(only_noise)
    assert BenchmarkResult(only_noise).passed and BenchmarkResult(only_noise).blocking(
        UPGRADE) == []
