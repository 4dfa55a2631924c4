"""Each test of the team's suite judged across the versions: newly failing on the new version
(a break: it fails the verdict), newly passing, failing on both, skipped, flaky (a re-run gave
another outcome), only collected on one side. A test module or conftest that collects on the
old version and not on the new one is a newly failing module (a break), its tests folded into
it; so is a suite that ran on the old version and not at all on the new one.

A failure names the team's line that called into MLflow, or else the innermost frame in the
team's code and, where the scan can trace it, the MLflow call that made the value that line
used (`origin.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.project.origin import value_origin
from harness.project.outcomes import (
    ERROR,
    FAILED,
    SKIPPED,
    Outcome,
    conftest_of,
    error_line,
    mlflow_call,
    team_frame,
)
from harness.project.suite import SUITE

NEWLY_FAILING = "newly_failing"
NEWLY_FAILING_MODULE = "newly_failing_module"
COLLECTED = "collected"  # a module's outcome on the side where its tests were collected
NEWLY_PASSING = "newly_passing"
FAILING_BOTH = "failing_on_both"
PASSING_BOTH = "passed"
SKIPPED_SIDE = "skipped"
FLAKY = "flaky"
ONE_SIDE = "one_side_only"
BAD = (FAILED, ERROR)


@dataclass(frozen=True)
class TestComparison:
    test: str
    verdict: str
    old: str  # outcome on the old version ("" when not collected there)
    new: str
    message: str = ""  # the new side's failure (or the old side's, when only it failed)
    mlflow_call: str | None = None  # the team's line that called into MLflow
    reruns: tuple[str, ...] = ()  # outcomes of the re-runs, old side then new
    team_frame: str | None = None  # the innermost frame in the team's code: `file:line: code`
    value_from: str | None = None  # the MLflow call that made the value that line used
    covers: tuple[str, ...] = ()  # a newly failing module: the tests it held on the old side

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestComparison:
        return cls(**{**data, "reruns": tuple(data.get("reruns", ())),
                      "covers": tuple(data.get("covers", ()))})


def needs_rerun(old: dict[str, Outcome], new: dict[str, Outcome]) -> list[str]:
    """Tests that failed on exactly one side: re-run on both to tell a break from a flake."""
    return sorted(t for t in old.keys() & new.keys()
                  if (old[t].outcome in BAD) != (new[t].outcome in BAD))


def compare(old: dict[str, Outcome], new: dict[str, Outcome],
            reruns: dict[str, tuple[list[str], list[str]]] | None = None,
            root: Path | None = None) -> list[TestComparison]:
    """Judge every test either side ran. `reruns[test]` holds the re-run outcomes on the old
    and the new side: a side whose outcomes disagree makes the test flaky. `root`, the
    project, lets a failure in the team's code name the MLflow call behind its value."""
    reruns = reruns or {}
    modules = newly_failing_modules(old, new, root)
    folded = {t for module in modules.values() for t in module.covers} | set(modules)
    judged = list(modules.values())
    for test in sorted(old.keys() | new.keys()):
        if test in folded:
            continue
        was, now = old.get(test), new.get(test)
        if was is None or now is None:
            only = was or now
            assert only is not None
            judged.append(TestComparison(test, ONE_SIDE, was.outcome if was else "",
                                         now.outcome if now else "", only.message))
            continue
        judged.append(_judge(test, was, now, reruns.get(test, ([], [])), root))
    return sorted(judged, key=lambda t: t.test)


def _judge(test: str, was: Outcome, now: Outcome, again: tuple[list[str], list[str]],
           root: Path | None) -> TestComparison:
    again_old, again_new = again
    seen_old = {was.outcome in BAD, *(o in BAD for o in again_old)}
    seen_new = {now.outcome in BAD, *(o in BAD for o in again_new)}
    failing = now if now.outcome in BAD else was
    if len(seen_old) > 1 or len(seen_new) > 1:
        verdict = FLAKY
    elif SKIPPED in (was.outcome, now.outcome):
        verdict = SKIPPED_SIDE
    elif was.outcome in BAD and now.outcome in BAD:
        verdict = FAILING_BOTH
    elif now.outcome in BAD:
        verdict = NEWLY_FAILING
    elif was.outcome in BAD:
        verdict = NEWLY_PASSING
    else:
        verdict = PASSING_BOTH
    if failing.outcome not in BAD:
        return TestComparison(test, verdict, was.outcome, now.outcome, "", None,
                              (*again_old, *again_new))
    call = mlflow_call(failing.text)
    frame = team_frame(failing.text, root)
    found = value_origin(root, frame, failing.message) if root and frame and not call else None
    return TestComparison(test, verdict, was.outcome, now.outcome, failing.message, call,
                          (*again_old, *again_new), frame, found)


def newly_failing_modules(old: dict[str, Outcome], new: dict[str, Outcome],
                          root: Path | None = None) -> dict[str, TestComparison]:
    """Modules (and conftest folders) whose tests were collected on the old side and that
    fail to collect on the new one, by the new side's node; a new-side run that collected
    nothing at all (a conftest pytest could not load, a time-out) while the old side ran tests
    is one such module."""
    found = {}
    for node, outcome in sorted(new.items()):
        if outcome.outcome != ERROR or "::" in node or (node in old and old[node].outcome in BAD):
            continue
        if node == SUITE:
            held = sorted(t for t in old if t != SUITE)
            name = conftest_of(outcome.text, root) or SUITE
        else:
            held = sorted(t for t in old if t.startswith((node + "::", node.rstrip("/") + "/")))
            name = node
        if not held:
            continue
        reason = error_line(outcome.text)
        message = reason if reason and name != SUITE else (
            f"{outcome.message}: {reason}" if reason else outcome.message)
        found[node] = TestComparison(name, NEWLY_FAILING_MODULE, COLLECTED, ERROR, message,
                                     mlflow_call(outcome.text), team_frame=team_frame(
                                         outcome.text, root), covers=tuple(held))
    return found


def summary(judged: list[TestComparison]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in judged:
        counts[item.verdict] = counts.get(item.verdict, 0) + 1
    return dict(sorted(counts.items()))

