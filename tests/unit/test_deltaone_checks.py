"""The DeltaOne checks fail when the detector, its webhook or the evaluation API misbehave.

Observations are real ones recorded from a 2.9.2 -> 3.4.0 run; each test shows the check
passes on them, then plants one fault and shows the check (or the cross-version diff) catches it.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import accumulate
from typing import Any

import pytest

from harness.catalog.classify import UNEXPECTED
from harness.reports.markdown import render_markdown
from harness.results.model import CheckResult, RunResults, RunStatus, SideInfo, Status
from harness.scenarios.test_deltaone import (
    EXPECTED,
    expected_payload,
    verify_detection,
    verify_evaluation,
    verify_webhook,
)
from harness.scenarios_runner import cross_version_diff
from harness.services.webhook import ALWAYS, WebhookReceiver
from tests.client_modules import CLIENTS, load_client
from tests.unit.test_scenario_checks import RECORDED, recorded

VERSIONS = ("2.9.2", "3.4.0")
Tamper = Callable[[dict[str, Any]], object]


def case_key(case: str) -> str:
    return f"test_deltaone.py::test_deltaone[{case}]"


def model_name(observed: dict[str, Any]) -> str:
    return str(observed["detections"][0]["model_name"])


def check(case: str, observed: dict[str, Any]) -> None:
    verify_detection(case, model_name(observed), observed)
    verify_webhook(case, model_name(observed), observed)


def caught(case: str, observed: dict[str, Any], tamper: Tamper) -> bool:
    broken = copy.deepcopy(observed)
    tamper(broken)
    try:
        check(case, broken)
    except AssertionError:
        return True
    return False


def first(observed: dict[str, Any]) -> dict[str, Any]:
    return observed["detections"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", list(EXPECTED))
def test_every_recorded_case_passes_and_a_wrong_verdict_fails(case: str, version: str) -> None:
    observed = recorded(case_key(case), version)
    check(case, observed)
    assert caught(case, observed, lambda o: first(o).update(verdict="achieved?"))
    assert caught(case, observed, lambda o: first(o).update(baseline_version="9"))


@pytest.mark.parametrize("version", VERSIONS)
def test_detection_faults_are_caught(version: str) -> None:
    many = recorded(case_key("many_versions"), version)
    # A detector that takes the previous version (v4) as the baseline.
    assert caught("many_versions", many, lambda o: first(o).update(
        baseline_version="4", delta="0.005", verdict="not_achieved"))
    at = recorded(case_key("exactly_at_threshold"), version)
    # Naive float subtraction: 0.57 - 0.56 < 0.01.
    assert caught("exactly_at_threshold", at, lambda o: first(o).update(
        delta="0.009999999999999898", verdict="not_achieved"))
    # The evaluation was not logged as metrics, or logged with the wrong value.
    assert caught("clear_improvement", recorded(case_key("clear_improvement"), version),
                  lambda o: o["logged"]["metrics"].pop("deltaone_delta"))
    assert caught("below_threshold", recorded(case_key("below_threshold"), version),
                  lambda o: o["logged"]["metrics"].update(deltaone_achieved=1.0))


@pytest.mark.parametrize("version", VERSIONS)
def test_webhook_faults_are_caught(version: str) -> None:
    clear = recorded(case_key("clear_improvement"), version)
    assert len(clear["webhook"]) == 1 and len(clear["detections"]) == 2  # re-run sent nothing

    def duplicate(o: dict[str, Any]) -> None:
        o["webhook"].append(copy.deepcopy(o["webhook"][0]))

    for tamper in (
        lambda o: o["webhook"][0]["body"].update(delta=6.0),  # percent, not fraction
        lambda o: o["webhook"][0]["body"].update(new_version="1"),
        lambda o: o["webhook"][0]["body"].pop("metric_name"),
        lambda o: o["webhook"][0].update(key=""),  # no idempotency key
        lambda o: o["webhook"].clear(),  # never delivered
        duplicate,  # delivered twice
        lambda o: o.update(notified_tag=None),  # not marked: a re-run would send again
    ):
        assert caught("clear_improvement", clear, tamper)
    below = recorded(case_key("below_threshold"), version)
    assert caught("below_threshold", below,
                  lambda o: o["webhook"].append(copy.deepcopy(clear["webhook"][0])))

    retry = recorded(case_key("webhook_retry"), version)
    assert [d["answered"] for d in retry["webhook"]] == [503, 503, 200]
    assert caught("webhook_retry", retry, lambda o: o["webhook"].pop(0))  # one retry only
    for delivery, when in zip(retry["webhook"], (0.0, 0.01, 0.02), strict=True):
        delivery["arrived_seconds"] = when  # retried at once, no backoff
    with pytest.raises(AssertionError, match="backoff"):
        check("webhook_retry", retry)

    down = recorded(case_key("webhook_unavailable"), version)
    assert len(down["webhook"]) >= 2 and down["notified_tag"] is None
    assert caught("webhook_unavailable", down, lambda o: o.update(notified_tag="x/2"))

    def give_up_at_once(o: dict[str, Any]) -> None:
        del o["webhook"][1:]

    assert caught("webhook_unavailable", down, give_up_at_once)


def with_gaps(observed: dict[str, Any], gaps: list[float],
              schedule: list[float] | None = None) -> dict[str, Any]:
    """The observation with these arrival gaps, and this reported schedule (None: none)."""
    changed = copy.deepcopy(observed)
    deliveries = changed["webhook"]
    assert len(deliveries) == len(gaps) + 1
    start = deliveries[0]["arrived_seconds"]
    for delivery, offset in zip(deliveries, accumulate(gaps, initial=0.0), strict=True):
        delivery["arrived_seconds"] = round(start + offset, 4)
    notification = first(changed)["notification"]
    notification.pop("backoff_seconds", None)
    if schedule is not None:
        notification["backoff_seconds"] = schedule
    return changed


REPORTED_GAPS = [0.2519, 1.6307, 1.0061]  # a loaded 2-core machine stretched the second gap
SCHEDULE = [0.25, 0.5, 1.0]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_reported_false_alarm_passes_now(version: str) -> None:
    """The user's run: arrival gaps out of order, the detector's schedule 0.25, 0.5, 1.0 s."""
    down = recorded(case_key("webhook_unavailable"), version)
    assert REPORTED_GAPS != sorted(REPORTED_GAPS)  # what the old check failed on
    check("webhook_unavailable", with_gaps(down, REPORTED_GAPS, SCHEDULE))
    retry = recorded(case_key("webhook_retry"), version)
    check("webhook_retry", with_gaps(retry, [0.2519, 0.5003], [0.25, 0.5]))
    check("webhook_retry", with_gaps(retry, [3.1, 0.5003], [0.25, 0.5]))  # first gap stretched
    check("clear_improvement", with_gaps(recorded(case_key("clear_improvement"), version), [],
                                         []))


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ([0.25, 0.25, 0.25], "backoff does not grow"),
        ([1.0, 0.5, 0.25], "backoff does not grow"),
        ([0.25, 0.5, 0.5], "backoff does not grow"),
        ([0.0, 0.0, 0.0], "retried without backoff"),
        ([0.0, 0.25, 0.5], "retried without backoff"),
        ([0.25, 0.5], "one delay per retry"),
        ([0.25, 0.5, 1.0, 2.0], "one delay per retry"),
        ("0.25,0.5,1.0", "list of seconds"),
        ([0.25, None, 1.0], "list of seconds"),
    ],
)
def test_a_schedule_that_does_not_back_off_or_grow_fails(schedule: Any, message: str) -> None:
    """Judged on the schedule alone: the gaps (2 s each) would satisfy any sane schedule."""
    down = recorded(case_key("webhook_unavailable"))
    with pytest.raises(AssertionError, match=message):
        check("webhook_unavailable", with_gaps(down, [2.0, 2.0, 2.0], schedule))


@pytest.mark.parametrize("gaps", [[0.25, 0.3, 1.0], [0.1, 0.2, 0.4], [0.0, 0.0, 0.0]])
def test_gaps_shorter_than_the_schedule_fail(gaps: list[float]) -> None:
    """A detector that reports a schedule but does not sleep it (0.3 s < 0.8 x 0.5 s)."""
    down = recorded(case_key("webhook_unavailable"))
    with pytest.raises(AssertionError, match="retried sooner than scheduled"):
        check("webhook_unavailable", with_gaps(down, gaps, SCHEDULE))


def test_a_team_detector_without_a_schedule_is_held_to_a_lower_bound_only() -> None:
    down = recorded(case_key("webhook_unavailable"))
    assert "backoff_seconds" not in first(down)["notification"]  # recorded before the field
    for gaps in (REPORTED_GAPS, [1.0, 0.5, 0.25], [0.1, 0.1, 0.1], [5.0, 0.12, 9.0]):
        check("webhook_unavailable", with_gaps(down, gaps))  # stretched or shrinking: fine
    for gaps in ([0.05, 0.5, 1.0], [0.25, 0.5, 0.0]):
        with pytest.raises(AssertionError, match="retried without backoff: arrival gaps"):
            check("webhook_unavailable", with_gaps(down, gaps))


@pytest.fixture
def reference_detector(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """scenarios/clients/deltaone_detector.py itself; its `import mlflow` gets a stub
    (post_with_retries reads only `mlflow.__version__`), and only for this test."""
    stub = types.ModuleType("mlflow")
    stub.__version__ = "0+stub"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mlflow", stub)
    monkeypatch.syspath_prepend(str(CLIENTS))  # for its `from deltaone_rule import ...`
    return load_client("deltaone_detector")


@contextmanager
def busy_cpus() -> Iterator[list[subprocess.Popen[bytes]]]:
    """One busy loop per CPU (at least 2, the user's machine; at most 8), stopped on exit."""
    count = min(max(2, os.cpu_count() or 2), 8)
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(count)]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait(timeout=10)


def _observed(receiver: WebhookReceiver, key: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """What test_deltaone records for one case, from the receiver and the detector's outcome."""
    return {
        "detections": [{"notification": outcome}],
        "notified_tag": key if outcome["sent"] else None,
        "webhook": [{"key": d.key, "answered": d.answered, "body": d.body,
                     "arrived_seconds": d.arrived_seconds} for d in receiver.deliveries(key)],
    }


def test_the_real_detector_passes_the_checks_on_a_loaded_machine(
    reference_detector: types.ModuleType,
) -> None:
    """post_with_retries against a receiver answering 503 while every CPU is busy."""
    cases = {"webhook_unavailable": (ALWAYS, [0.25, 0.5, 1.0], [503] * 4),
             "webhook_retry": (2, [0.25, 0.5], [503, 503, 200])}
    began = time.monotonic()
    with WebhookReceiver() as receiver, busy_cpus() as loops:
        for case, (fails, schedule, statuses) in cases.items():
            model = f"loaded-{case}"
            key = f"{model}/{EXPECTED[case].current}"
            receiver.fail_first(key, fails)
            outcome = reference_detector.post_with_retries(
                receiver.url, expected_payload(case, model), key)
            assert outcome["backoff_seconds"] == schedule, outcome
            assert outcome["statuses"] == statuses, outcome
            observed = _observed(receiver, key, outcome)
            assert [d["answered"] for d in observed["webhook"]] == statuses
            verify_webhook(case, model, observed)
        assert all(loop.poll() is None for loop in loops), "the load stopped early"
    assert time.monotonic() - began < 10


def test_the_real_detector_reports_only_the_sleeps_it_took(
    reference_detector: types.ModuleType,
) -> None:
    with WebhookReceiver() as receiver:
        accepted = reference_detector.post_with_retries(receiver.url, {"n": 1}, "m/1")
        receiver.fail_first("m/2", 1, status=404)
        rejected = reference_detector.post_with_retries(receiver.url, {"n": 2}, "m/2")
    assert accepted == {"sent": True, "attempts": 1, "statuses": [200], "backoff_seconds": []}
    assert rejected["sent"] is False and rejected["statuses"] == [404]
    assert rejected["backoff_seconds"] == []  # a 4xx is not retried, so nothing was scheduled


@pytest.mark.parametrize("version", VERSIONS)
def test_evaluation_check(version: str) -> None:
    observed = recorded("test_deltaone.py::test_evaluation_api", version)
    verify_evaluation(observed)
    for tamper in (
        lambda o: o["verdicts"].update(strict="passed"),
        lambda o: o["verdicts"].update(deltaone="failed"),
        lambda o: o["accuracy"].update(candidate=o["accuracy"]["baseline"]),
        lambda o: o.update(legacy_call="passed" if version == "3.4.0" else "raises TypeError"),
    ):
        broken = copy.deepcopy(observed)
        tamper(broken)
        with pytest.raises(AssertionError):
            verify_evaluation(broken)


def _checks(case: str, old: dict[str, Any], new: dict[str, Any]) -> list[CheckResult]:
    return [
        CheckResult(scenario="deltaone", test=f"{case}[{side}]", case=case, side=side,
                    mlflow_version=version, status=Status.PASSED, duration_s=0.0,
                    observations=observed)
        for side, version, observed in (("from", "2.9.2", old), ("to", "3.4.0", new))
    ]


def test_recorded_verdicts_agree_and_api_changes_are_all_documented() -> None:
    for case in RECORDED:
        if "test_deltaone" not in case:
            continue
        entries = cross_version_diff(_checks(case, recorded(case, "2.9.2"), recorded(case)))
        assert [e.path for e in entries if e.classification == UNEXPECTED] == [], case
    evaluation = "test_deltaone.py::test_evaluation_api"
    documented = cross_version_diff(_checks(evaluation, recorded(evaluation, "2.9.2"),
                                            recorded(evaluation)))
    assert {e.path for e in documented} >= {"legacy_call", "api.evaluate(baseline_model)"}


def test_a_verdict_that_differs_between_versions_is_an_unexpected_difference() -> None:
    case = case_key("exactly_at_threshold")
    new = recorded(case)
    first(new).update(verdict="not_achieved")
    entries = cross_version_diff(_checks(case, recorded(case, "2.9.2"), new))
    unexpected = [e for e in entries if e.classification == UNEXPECTED]
    assert [(e.path, e.old, e.new) for e in unexpected] == [
        ("detections[0].verdict", "achieved", "not_achieved")
    ]


def test_report_shows_each_case_per_version_and_the_evaluation_api() -> None:
    checks = []
    for case in RECORDED:
        if "test_deltaone" in case:
            checks += _checks(case, recorded(case, "2.9.2"), recorded(case))
    failed = next(c for c in checks if c.case == case_key("many_versions") and c.side == "to")
    failed.status = Status.FAILED
    results = RunResults(
        run_id="r1", started_at="2026-01-01T00:00:00+00:00", harness_version="0",
        sides=[SideInfo("from", "2.9.2", "2.9.2"), SideInfo("to", "3.4.0", "3.4.0")],
        status=RunStatus.FAILED, checks=checks,
    )
    text = render_markdown(results)
    section = text[text.index("## DeltaOne"):text.index("## Scenarios")]
    retry = "| webhook_retry | ✅ achieved | ✅ achieved | 0.05 | 1 accepted of 3 (503, 503, 200) |"
    assert retry in section
    assert "| exactly_at_threshold | ✅ achieved | ✅ achieved | 0.01 |" in section
    assert "| single_version | ✅ single_version | ✅ single_version | — | none |" in section
    assert "| `MetricThreshold(higher_is_better)` | works | raises TypeError |" in section
    assert "| validation `strict` | failed | failed |" in section
    assert "| many_versions | ✅ achieved | ❌ achieved | 0.02 |" in section
