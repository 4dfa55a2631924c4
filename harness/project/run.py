"""`--project`: the team's suite in each side's environment (the side's MLflow plus the team's
requirements) against that side's server; tests that fail on one side only are re-run on
both; the comparison is the run's `project` result."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.envs.builder import EnvRequest, MlflowEnv, ensure_env
from harness.envs.known import load_known
from harness.errors import EnvironmentBuildError, UsageError
from harness.project.compare import compare, needs_rerun, summary
from harness.project.outcomes import Outcome
from harness.project.requirements import HeldRequirements, hold_mlflow
from harness.project.result import ProjectResult
from harness.project.suite import SuiteRun, run_suite

if TYPE_CHECKING:
    from harness.session import RunSession

ROLES = ("from", "to")
TEST_TOOLS = ("pytest",)


@dataclass(frozen=True)
class ProjectSettings:
    path: Path
    args: tuple[str, ...] = ()  # pytest arguments; none: the project's configured testpaths
    requirements: Path | None = None
    timeout_s: float = 900.0


@dataclass
class SideTarget:
    """What the suite needs of one side: its MLflow spec and extras, and its server."""

    role: str
    version: str
    request: EnvRequest
    tracking_uri: str


Builder = Callable[[EnvRequest], MlflowEnv]


def with_requirements(request: EnvRequest, held: HeldRequirements | None) -> EnvRequest:
    kept = held.kept if held else ()
    return EnvRequest(request.spec, (*request.extras, *kept, *TEST_TOOLS),
                      python=request.python, exclude_newer=request.exclude_newer)


def run_project(settings: ProjectSettings, sides: Sequence[SideTarget], log_dir: Path,
                build: Builder) -> ProjectResult:
    """Build each side's project environment, run the suite on both, re-run the tests that
    failed on one side only, and compare."""
    held = hold_mlflow(settings.requirements) if settings.requirements else None
    result = ProjectResult(str(settings.path), list(settings.args),
                           list(held.set_aside) if held else [])
    runs: dict[str, SuiteRun] = {}
    outcomes: dict[str, dict[str, Outcome]] = {}
    for side in sides:
        started = time.monotonic()
        try:
            env = build(with_requirements(side.request, held))
        except EnvironmentBuildError as error:  # the team's pins against this MLflow
            result.conflicts[side.role] = str(error)
            continue
        result.seconds[f"environment {side.role}"] = round(time.monotonic() - started, 2)
        runs[side.role] = SuiteRun(env.python, settings.path, side.tracking_uri, log_dir,
                                   f"{side.role}-{side.version}")
        started = time.monotonic()
        outcomes[side.role] = run_suite(runs[side.role], settings.args, settings.timeout_s)
        result.seconds[f"suite {side.role}"] = round(time.monotonic() - started, 2)
    if set(outcomes) != set(ROLES):
        return result
    old, new = outcomes["from"], outcomes["to"]
    reruns: dict[str, tuple[list[str], list[str]]] = {}
    again = needs_rerun(old, new)
    if again:
        started = time.monotonic()
        second = {role: run_suite(runs[role], again, settings.timeout_s, name="rerun")
                  for role in ROLES}
        result.seconds["reruns"] = round(time.monotonic() - started, 2)
        for test in again:
            reruns[test] = ([second["from"][test].outcome] if test in second["from"] else [],
                            [second["to"][test].outcome] if test in second["to"] else [])
    judged = compare(old, new, reruns, settings.path)
    result.tests = judged
    result.summary = summary(judged)
    return result


def side_targets(session: RunSession) -> list[SideTarget]:
    """Both sides of a provisioned run: their environment requests and servers."""
    config = session.config
    targets = []
    for role in ROLES:
        side = session.sides[role]
        exclude_newer = config.environments.exclude_newer
        if config.environments.as_of_release:
            exclude_newer = load_known().exclude_newer(side.config.spec.version)
        request = EnvRequest(side.config.spec, side.config.extras, exclude_newer=exclude_newer)
        targets.append(SideTarget(role, side.version, request, side.tracking_uri))
    return targets


def env_builder(cache_dir: Path, log_dir: Path) -> Builder:
    return lambda request: ensure_env(request, cache_dir, log_dir)


def check_project(path: str, tests: str | None, requirements: str | None,
                  timeout_s: float) -> ProjectSettings:
    """`--project` and its options, checked at the edge (one line each)."""
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise UsageError(f"--project {path}: no such folder")
    try:
        args = tuple(shlex.split(tests)) if tests else ()
    except ValueError as error:
        raise UsageError(f"--project-tests {tests!r}: {error}") from None
    found = Path(requirements).expanduser().resolve() if requirements \
        else folder / "requirements.txt"
    if requirements and not found.is_file():
        raise UsageError(f"--project-requirements {requirements}: no such file")
    if not 10 <= timeout_s <= 86_400:
        raise UsageError("--project-timeout must be between 10 and 86400 seconds")
    return ProjectSettings(folder, args, found if found.is_file() else None, timeout_s)
