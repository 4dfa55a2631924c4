"""Merge results files (tox environments, CI shards) into one, without re-running anything.

Checks are joined (the first file wins when two hold the same test in the same client/server
cell); an input that did not complete (error, interrupt) makes the merge incomplete too,
otherwise the writers derive the matrix, the verdict and the status from the joined results
(`harness/verdict.py` `conclude`). Files of different upgrades (tox's `pair-*` environments)
are merged per upgrade: `by_upgrade` groups them, one merged result per pair.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UsageError
from harness.results.model import (
    CheckResult,
    DiffEntry,
    RunResults,
    RunStatus,
    SideInfo,
    load_results,
)

RESULTS_NAME = "results.json"
_WORST = [RunStatus.ERROR, RunStatus.INTERRUPTED, RunStatus.FAILED, RunStatus.PASSED]


# Results one run of the merge gives (the benchmark, the scan, …): the first one counts.
FIRST_GIVEN = ("benchmark", "scan", "project", "traffic", "deployment", "scale")


def find_results(paths: list[str]) -> list[Path]:
    """Files as given; a folder stands for every results.json below it (sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            inside = sorted(path.rglob(RESULTS_NAME))
            if not inside:
                raise UsageError(f"no {RESULTS_NAME} under {raw!r}")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"no such results file or folder: {raw!r}")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UsageError("no results file given")
    return unique


def _key(check: CheckResult) -> tuple[str, str, str, str]:
    return (check.case or check.test, check.side if not check.client_version else "",
            check.client_version, check.server_version)


def merge(results: list[RunResults]) -> RunResults:
    if len(results) == 1:
        return results[0]
    first = results[0]
    upgrades = {_upgrade(r) for r in results}
    if len(upgrades) > 1:
        raise UsageError("cannot merge results of different upgrades: "
                         + ", ".join(sorted(upgrades)))
    merged = RunResults(
        run_id="+".join(r.run_id for r in results),
        started_at=min(r.started_at for r in results),
        harness_version=first.harness_version,
        sides=[],
        finished_at=max(r.finished_at for r in results),
        duration_s=round(max(r.duration_s for r in results), 2),
        machine=first.machine,
        services=first.services,
    )
    sides: dict[tuple[str, str], SideInfo] = {}
    checks: dict[tuple[str, str, str, str], CheckResult] = {}
    diff: dict[tuple[str, str], DiffEntry] = {}
    errors = []
    for each in results:
        for side in each.sides:
            sides.setdefault((side.mlflow_version or side.spec, side.role), side)
        for check in each.checks:
            checks.setdefault(_key(check), check)
        for entry in each.diff:
            diff.setdefault((entry.test, entry.path), entry)
        if each.error:
            errors.append(f"{each.run_id}: {each.error}")
        for name in FIRST_GIVEN:  # a phase's result from the first run that has one
            if getattr(each, name) and not getattr(merged, name):
                setattr(merged, name, getattr(each, name))
        merged.team_scenarios = sorted({*merged.team_scenarios, *each.team_scenarios})
        for name, seconds in each.phases.items():
            merged.phases[f"{each.run_id} {name}"] = seconds
    merged.sides = list(sides.values())
    merged.checks = list(checks.values())
    merged.diff = list(diff.values())
    merged.error = "\n".join(errors)
    # Incomplete if any input is; otherwise `conclude` decides from the merged results.
    merged.status = min((r.status for r in results), key=_WORST.index)
    if merged.completed:
        merged.status = RunStatus.PASSED
    merged.merged_from = [r.run_id for r in results]
    return merged


def _upgrade(results: RunResults) -> str:
    return " → ".join(s.mlflow_version or s.spec for s in results.sides[:2])


def upgrade_slug(results: RunResults) -> str:
    """A folder name for one upgrade: `3.4.0-3.17.2`."""
    return "-".join(s.mlflow_version or s.spec for s in results.sides[:2]).replace("/", "_")


def by_upgrade(results: list[RunResults]) -> list[RunResults]:
    """One merged result per upgrade, in the order each upgrade first appears."""
    groups: dict[str, list[RunResults]] = {}
    for each in results:
        groups.setdefault(_upgrade(each), []).append(each)
    return [merge(group) for group in groups.values()]


def load_and_merge(paths: list[str]) -> RunResults:
    return merge([load_results(path) for path in find_results(paths)])


def load_by_upgrade(paths: list[str]) -> list[RunResults]:
    return by_upgrade([load_results(path) for path in find_results(paths)])
