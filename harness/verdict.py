"""The one-line answer, and its reasons: safe to upgrade, safe with caveats, or not safe.

- **not safe**: a required check failed, behaviour changed without documentation, or an
  operation got slower than the threshold;
- **safe with caveats**: nothing blocks, but something needs a decision: a known defect of the
  new version, documented behaviour changes your code may rely on, findings (e.g. routes your
  proxy drops), advisory matrix cells that fail (a new client on the old server), performance
  the benchmark could not decide, or no benchmark at all;
- **safe**: none of the above;
- **no verdict**: the run did not complete (usage or infrastructure error, interrupt).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harness.matrix import blocking_failures
from harness.results.model import RunResults, RunStatus, Status
from harness.results.phase import MAX_NAMED, named


class Level(StrEnum):
    SAFE = "safe"
    CAVEATS = "safe_with_caveats"
    NOT_SAFE = "not_safe"
    NO_VERDICT = "no_verdict"


HEADLINES = {
    Level.SAFE: "Safe to upgrade",
    Level.CAVEATS: "Safe to upgrade, with caveats",
    Level.NOT_SAFE: "Not safe to upgrade",
    Level.NO_VERDICT: "No verdict",
}


@dataclass
class Verdict:
    level: Level
    reasons: list[str] = field(default_factory=list)

    @property
    def headline(self) -> str:
        return HEADLINES[self.level]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level.value, "headline": self.headline, "reasons": self.reasons}


def _regressions(results: RunResults) -> tuple[list[str], list[str]]:
    slower, undecided = [], []
    for group, label in (("server_side", "server"), ("client_side", "client")):
        operations = results.benchmark.get(group, {}).get("operations", {})
        for op, item in operations.items():
            if item.get("verdict") == "regression":
                slower.append(f"{op} ({label}) {item.get('ratio', 0):.2f}×")
            elif item.get("verdict") == "inconclusive":
                undecided.append(f"{op} ({label})")
    return slower, undecided


def _by_cause(slower: list[str], causes: list[dict[str, Any]]) -> str:
    """The slower operations said once per cause: a recognised cause with its remedy's
    outcome, then what no cause explains."""
    if not causes:
        return named(slower)
    parts = []
    for cause in causes[:MAX_NAMED]:
        ops = cause.get("operations", [])
        if cause.get("id") == "unexplained":
            parts.append(f"{len(ops)} with no known cause ({named(ops)})")
            continue
        text = f"{len(ops)} from one cause, {cause.get('title', cause.get('id'))}"
        remedy = cause.get("remedy_gate") or {}
        if remedy.get("error"):
            text += f" (with `{shlex.join(remedy['args'])}`: could not be verified)"
        elif remedy.get("args"):
            still = remedy.get("still_regress") or []
            text += (f" (with `{shlex.join(remedy['args'])}`: "
                     + (f"{len(still)} still slower: {named(still)})" if still
                        else "none slower)"))
        parts.append(text)
    left = len(causes) - MAX_NAMED
    return "; ".join(parts) + (f"; and {left} more cause(s)" if left > 0 else "")


def _place(finding: dict[str, Any]) -> str:
    """`file:line api`, with the parameter when that is what changed: two parameters of one
    call are two places, not the same one twice."""
    parameter = f"({finding['parameter']}=…)" if finding.get("parameter") else ""
    return f"{finding['file']}:{finding['line']} {finding['api']}{parameter}"


def _project_blocking(results: RunResults) -> list[str]:
    project, new = results.project, results.scan.get("to") or (
        results.sides[1].mlflow_version if len(results.sides) > 1 else "the new version")
    reasons = []
    for side, why in project.get("conflicts", {}).items():
        reasons.append(f"your requirements do not install with the {side} side's MLflow: "
                       f"{why.splitlines()[0] if why else ''}")
    broken = [t for t in project.get("tests", []) if t["verdict"] == "newly_failing"]
    if broken:
        reasons.append(f"{len(broken)} of your tests newly fail on {new}: " + named(
            [t["test"] + (f" ({t['mlflow_call']})" if t.get("mlflow_call") else "")
             for t in broken]))
    return reasons


def _project_caveats(results: RunResults) -> list[str]:
    tests = results.project.get("tests", [])
    flaky = [t["test"] for t in tests if t["verdict"] == "flaky"]
    one_side = [t["test"] for t in tests if t["verdict"] == "one_side_only"]
    return ([f"{len(flaky)} of your tests are flaky (a re-run changed the outcome): "
             + named(flaky)] if flaky else []) + (
        [f"{len(one_side)} of your tests ran on one version only: " + named(one_side)]
        if one_side else [])


def decide(results: RunResults) -> Verdict:
    if results.status in (RunStatus.ERROR, RunStatus.INTERRUPTED):
        first = results.error.splitlines()[0] if results.error else results.status.value
        return Verdict(Level.NO_VERDICT, [f"The run did not complete: {first}"])
    blocking: list[str] = []
    caveats: list[str] = []
    failed = blocking_failures(results.checks)
    if failed:
        blocking.append(f"{len(failed)} check(s) failed: " + named(
            [f"{c.scenario} on {c.side} ({c.server_version or c.mlflow_version})"
             for c in failed]))
    unexpected = results.unexpected_differences()
    if unexpected:
        blocking.append(f"{len(unexpected)} undocumented behaviour change(s) between the "
                        "versions: " + named(sorted({d.path for d in unexpected})))
    scan = results.scan.get("findings", [])
    deprecated_kinds = ("deprecated", "parameter-deprecated")
    breaking = [f for f in scan if f["kind"] not in deprecated_kinds]
    if breaking:
        blocking.append(f"{len(breaking)} place(s) in your code use APIs "
                        f"{results.scan.get('to', 'the new version')} removed or changed: "
                        + named([_place(f) for f in breaking]))
    deprecations = [f for f in scan if f["kind"] in deprecated_kinds]
    if deprecations:
        caveats.append(f"{len(deprecations)} place(s) in your code use deprecated APIs: "
                       + named([_place(f) for f in deprecations]))
    blocking += _project_blocking(results)
    caveats += _project_caveats(results)
    slower, undecided = _regressions(results)
    if slower:
        threshold = results.benchmark.get("settings", {}).get("threshold", 0.2)
        blocking.append(f"{len(slower)} operation(s) more than {threshold:.0%} slower: "
                        + _by_cause(slower, results.benchmark.get("causes") or []))
    if results.status is RunStatus.FAILED and not blocking:
        blocking.append("the run failed (see the failures below)")
    new_version = results.sides[1].mlflow_version if len(results.sides) > 1 else ""
    defects = sorted({c.defect.get("id", "") for c in results.checks  # the new version alone
                      if c.status is Status.KNOWN_DEFECT and c.server_version == new_version
                      and c.client_version in ("", new_version)})
    if defects:
        caveats.append(f"known defect(s) of {new_version} reproduced: " + named(defects))
    advisory = [c for c in results.matrix.get("cells", [])
                if c["status"] == "failed" and c["advisory"]]
    if advisory:
        caveats.append("newer clients fail on older servers (upgrade servers first): " + named(
            [f"{c['client']} client → {c['server']} server" for c in advisory]))
    expected = sorted({d.catalog_id for d in results.diff if d.classification == "expected"})
    if expected:
        caveats.append(f"{len(expected)} documented behaviour change(s) your code may rely on: "
                       + named(expected))
    findings = results.findings()
    if findings:
        caveats.append(f"{len(findings)} finding(s): " + named(
            sorted({d.catalog_id for d in findings})))
    if undecided:
        caveats.append(f"performance undecided for {len(undecided)} operation(s): "
                       + named(undecided))
    if not results.benchmark:
        caveats.append("performance not measured (--no-bench)")
    if blocking:
        return Verdict(Level.NOT_SAFE, blocking + caveats)
    return Verdict(Level.CAVEATS if caveats else Level.SAFE, caveats)
