"""DeltaOne: the team's improvement rule over the registry, its webhook, and the evaluation API.

Each case runs the detector (ours, or the team's own via `--deltaone-detector`) in each
version's client against that version's server, with a local webhook receiver per side. The
verdicts must be those below on both versions; the cross-version diff compares everything the
cases observed, webhook deliveries included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pytest

from harness.matrix import parse_cell
from harness.plugin import Client
from harness.services.webhook import ALWAYS, Delivery, WebhookReceiver

Observe = Callable[[dict[str, Any]], None]
LANE_SECONDS = 60  # its typical seconds on one side: how a client's lanes share the modules
DECIDED = ("achieved", "not_achieved")


@dataclass(frozen=True)
class Expect:
    verdict: str
    baseline: str | None = None
    current: str | None = None
    delta: str | None = None
    metric: str = "accuracy"
    direction: str = "higher"
    receiver_fails: int = 0  # 5xx answers before the receiver accepts (ALWAYS: never accepts)


EXPECTED: dict[str, Expect] = {
    "clear_improvement": Expect("achieved", "1", "2", "0.06"),
    "below_threshold": Expect("not_achieved", "1", "2", "0.005"),
    "exactly_at_threshold": Expect("achieved", "1", "2", "0.01"),
    "lower_is_better": Expect("achieved", "1", "2", "0.03", "log_loss", "lower"),
    "lower_is_better_worse": Expect("not_achieved", "1", "2", "-0.05", "log_loss", "lower"),
    "missing_metric": Expect("missing_metric", "1", "2"),
    "missing_baseline_tags": Expect("no_baseline", None, "2"),
    "single_version": Expect("single_version"),
    "many_versions": Expect("achieved", "2", "5", "0.02"),
    "webhook_retry": Expect("achieved", "1", "2", "0.05", receiver_fails=2),
    "webhook_unavailable": Expect("achieved", "1", "2", "0.06", receiver_fails=ALWAYS),
}
VALUES = {  # baseline and current values per decided case, as the case module builds them
    "clear_improvement": (0.80, 0.86), "below_threshold": (0.80, 0.805),
    "exactly_at_threshold": (0.56, 0.57), "lower_is_better": (0.40, 0.37),
    "lower_is_better_worse": (0.40, 0.45), "many_versions": (0.75, 0.77),
    "webhook_retry": (0.60, 0.65), "webhook_unavailable": (0.60, 0.66),
}
LOGGED_METRICS = {
    "deltaone_achieved", "deltaone_delta", "deltaone_baseline_value", "deltaone_current_value"
}
# Backoff is judged on what the detector decided, not on how fast a loaded machine delivered:
MIN_BACKOFF_S = 0.1  # each scheduled delay (or, with no schedule, each arrival gap) at least
# An arrival gap is the scheduled sleep plus the request's own time, so load only lengthens it;
# the slack only covers clock rounding. No upper bound and no ordering of gaps: those measure
# the machine.
GAP_SHARE_OF_DELAY = 0.8


def expected_payload(case: str, model_name: str) -> dict[str, Any]:
    expect = EXPECTED[case]
    baseline, current = VALUES[case]
    return {
        "event": "deltaone.achieved",
        "model_name": model_name,
        "baseline_version": expect.baseline,
        "new_version": expect.current,
        "metric_name": expect.metric,
        "direction": expect.direction,
        "baseline_value": baseline,
        "current_value": current,
        "delta": float(expect.delta or 0),
    }


def verify_detection(case: str, model_name: str, result: dict[str, Any]) -> None:
    """The verdict, versions, delta and the evaluation logged as metrics."""
    expect = EXPECTED[case]
    first = result["detections"][0]
    assert first["verdict"] == expect.verdict, f"{case}: verdict {first['verdict']}"
    assert first["baseline_version"] == expect.baseline, f"{case}: wrong baseline version"
    assert first["current_version"] == expect.current
    assert first["delta"] == expect.delta, f"{case}: delta {first['delta']} != {expect.delta}"
    if expect.verdict not in DECIDED:
        assert not result["logged"], f"{case}: an undecided case logged an evaluation"
        return
    baseline, current = VALUES[case]
    metrics = result["logged"].get("metrics", {})
    missing = LOGGED_METRICS - metrics.keys()
    assert not missing, f"{case}: evaluation not logged as metrics: {sorted(missing)}"
    assert metrics["deltaone_achieved"] == (1.0 if expect.verdict == "achieved" else 0.0)
    assert metrics["deltaone_delta"] == float(expect.delta or 0)
    assert metrics["deltaone_baseline_value"] == baseline
    assert metrics["deltaone_current_value"] == current
    assert result["logged"]["tags"]["deltaone.model_name"] == model_name


def verify_webhook(case: str, model_name: str, result: dict[str, Any]) -> None:
    """Once per achievement, exact payload, retried with a growing backoff schedule, never
    otherwise."""
    expect = EXPECTED[case]
    deliveries = result["webhook"]
    accepted = [d for d in deliveries if 200 <= d["answered"] < 300]
    if expect.verdict != "achieved":
        assert deliveries == [], f"{case}: webhook called without DeltaOne"
        assert result["notified_tag"] is None
        return
    key = f"{model_name}/{expect.current}"
    assert all(d["key"] == key for d in deliveries), "deliveries must carry Idempotency-Key"
    for delivery in deliveries:
        assert delivery["body"] == expected_payload(case, model_name), (
            f"{case}: wrong webhook payload {delivery['body']}"
        )
    if expect.receiver_fails == ALWAYS:
        assert accepted == [] and len(deliveries) >= 2, f"{case}: 5xx was not retried"
        assert [d["answered"] for d in deliveries] == [503] * len(deliveries)
        assert result["detections"][0]["notification"]["sent"] is False
        assert result["notified_tag"] is None, "marked notified although nothing was accepted"
    else:
        assert len(accepted) == 1, f"{case}: {len(accepted)} accepted deliveries, want 1"
        assert [d["answered"] for d in deliveries] == [503] * expect.receiver_fails + [200]
        assert result["detections"][0]["notification"]["sent"] is True
        assert result["notified_tag"] == key
    verify_backoff(case, result["detections"][0]["notification"], deliveries)
    for later in result["detections"][1:]:
        assert later["notification"]["sent"] is False, "re-run notified the same achievement"


def verify_backoff(case: str, notification: dict[str, Any], deliveries: list[dict[str, Any]]
                   ) -> None:
    """Retries back off, judged on the delays the detector scheduled (`backoff_seconds`).

    The schedule must have one delay per retry, each at least MIN_BACKOFF_S, strictly growing.
    Arrival gaps at the receiver are only held to a lower bound: no shorter than
    GAP_SHARE_OF_DELAY of their scheduled delay (the detector really slept), or, for a
    detector that reports no schedule, no shorter than MIN_BACKOFF_S. They are never checked
    for growth or against an upper bound: a busy machine stretches gaps unevenly.
    """
    gaps = [round(b["arrived_seconds"] - a["arrived_seconds"], 4)
            for a, b in pairwise(deliveries)]
    schedule = notification.get("backoff_seconds")
    if schedule is None:  # a team's detector need not report its schedule
        short = [gap for gap in gaps if gap < MIN_BACKOFF_S]
        assert not short, (f"{case}: retried without backoff: arrival gaps {gaps}s, want each "
                           f">= {MIN_BACKOFF_S}s (the detector reports no backoff_seconds)")
        return
    assert isinstance(schedule, list) and all(
        isinstance(d, int | float) and not isinstance(d, bool) for d in schedule
    ), f"{case}: backoff_seconds must be a list of seconds, got {schedule!r}"
    assert len(schedule) == len(gaps), (
        f"{case}: the detector reports {len(schedule)} backoff delays {schedule} for "
        f"{len(gaps)} retries (deliveries: {len(deliveries)}); want one delay per retry"
    )
    assert all(d >= MIN_BACKOFF_S for d in schedule), (
        f"{case}: retried without backoff: scheduled delays {schedule}s, want each "
        f">= {MIN_BACKOFF_S}s"
    )
    assert all(b > a for a, b in pairwise(schedule)), (
        f"{case}: backoff does not grow: scheduled delays {schedule}s"
    )
    early = [(gap, delay) for gap, delay in zip(gaps, schedule, strict=True)
             if gap < GAP_SHARE_OF_DELAY * delay]
    assert not early, (
        f"{case}: retried sooner than scheduled: arrival gaps {gaps}s for scheduled delays "
        f"{schedule}s (each gap must be >= {GAP_SHARE_OF_DELAY:g} x its delay)"
    )


def _about(delivery: Delivery, model_name: str) -> bool:
    """A delivery for this case's model: by its idempotency key, or by its body if it has none."""
    if delivery.key.startswith(f"{model_name}/"):
        return True
    return isinstance(delivery.body, dict) and delivery.body.get("model_name") == model_name


@pytest.fixture(scope="session")
def webhook(side: str) -> Iterator[WebhookReceiver]:
    """One receiver per side (both sides use the same model names on their own servers)."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def detector(request: pytest.FixtureRequest) -> str | None:
    """The team's detector (`--deltaone-detector FILE[:FUNCTION]`), or None: the reference one."""
    chosen = request.config.getoption("deltaone_detector", None)
    return str(chosen) if chosen else None


@pytest.mark.matrix
@pytest.mark.parametrize("case", list(EXPECTED))
def test_deltaone(
    side: str,
    mlflow_client: Client,
    observe: Observe,
    run_prefix: str,
    webhook: WebhookReceiver,
    detector: str | None,
    case: str,
) -> None:
    expect = EXPECTED[case]
    model_name = f"{run_prefix}-deltaone-{case.replace('_', '-')}"
    if not parse_cell(side).diagonal:  # another client on a side's server: its own models
        model_name += f"-{side.replace('_', '-')}"
    if expect.receiver_fails:
        webhook.fail_first(f"{model_name}/{expect.current}", expect.receiver_fails)
    result = mlflow_client.call(
        "deltaone:run_case",
        model_name=model_name,
        case=case,
        webhook_url=webhook.url,
        detector=detector,
        repeat=2 if case == "clear_improvement" else 1,
    )
    result["webhook"] = [
        {"key": d.key, "answered": d.answered, "body": d.body, "arrived_seconds": d.arrived_seconds}
        for d in webhook.all()
        if _about(d, model_name)
    ]
    observe(result)
    verify_detection(case, model_name, result)
    verify_webhook(case, model_name, result)


def verify_evaluation(result: dict[str, Any]) -> None:
    """Both versions validate the same way with their own API; the 2.x call fails loudly on 3.x."""
    assert result["verdicts"] == {"deltaone": "passed", "strict": "failed"}, result["verdicts"]
    accuracy = result["accuracy"]
    assert accuracy["candidate"] - accuracy["baseline"] >= 0.01
    api = result["api"]
    assert api["MetricThreshold(greater_is_better)"].startswith("works")
    # What the version offers decides (2.22 has both the old call and the new API).
    if api["evaluate(baseline_model)"] == "accepted":
        assert result["legacy_call"] == "passed"
    else:
        assert result["legacy_call"].startswith("raises TypeError"), result["legacy_call"]
    if api["validate_evaluation_results"] == "present":
        assert result["native_api"] == "validate_evaluation_results"
    else:
        assert result["native_api"].startswith("evaluate(")


@pytest.mark.matrix
def test_evaluation_api(
    side: str, mlflow_client: Client, observe: Observe, run_prefix: str
) -> None:
    result = mlflow_client.call("deltaone:evaluation_api", prefix=f"{run_prefix}-{side}")
    observe(result)
    verify_evaluation(result)
