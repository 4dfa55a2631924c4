"""Each test of the team's suite judged across the versions: newly failing on the new version
(a break: it fails the verdict), newly passing, failing on both, skipped, flaky (a re-run gave
another outcome), only collected on one side."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.project.outcomes import ERROR, FAILED, SKIPPED, Outcome, mlflow_call

NEWLY_FAILING = "newly_failing"
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestComparison:
        return cls(**{**data, "reruns": tuple(data.get("reruns", ()))})


def needs_rerun(old: dict[str, Outcome], new: dict[str, Outcome]) -> list[str]:
    """Tests that failed on exactly one side: re-run on both to tell a break from a flake."""
    return sorted(t for t in old.keys() & new.keys()
                  if (old[t].outcome in BAD) != (new[t].outcome in BAD))


def compare(old: dict[str, Outcome], new: dict[str, Outcome],
            reruns: dict[str, tuple[list[str], list[str]]] | None = None) -> list[TestComparison]:
    """Judge every test either side ran. `reruns[test]` holds the re-run outcomes on the old
    and the new side: a side whose outcomes disagree makes the test flaky."""
    reruns = reruns or {}
    judged = []
    for test in sorted(old.keys() | new.keys()):
        was, now = old.get(test), new.get(test)
        if was is None or now is None:
            only = was or now
            assert only is not None
            judged.append(TestComparison(test, ONE_SIDE, was.outcome if was else "",
                                         now.outcome if now else "", only.message))
            continue
        again_old, again_new = reruns.get(test, ([], []))
        seen_old = {was.outcome in BAD, *(o in BAD for o in again_old)}
        seen_new = {now.outcome in BAD, *(o in BAD for o in again_new)}
        rerun = (*again_old, *again_new)
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
        message = failing.message if failing.outcome in BAD else ""
        call = mlflow_call(failing.text) if failing.outcome in BAD else None
        judged.append(TestComparison(test, verdict, was.outcome, now.outcome, message, call,
                                     rerun))
    return judged


def summary(judged: list[TestComparison]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in judged:
        counts[item.verdict] = counts.get(item.verdict, 0) + 1
    return dict(sorted(counts.items()))

