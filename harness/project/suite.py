"""The team's pytest suite, run by one side's interpreter against one side's server, under a
time bound; outcomes per test (import and collection errors included) from its JUnit XML."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.project.outcomes import ERROR, Outcome, read_junit
from harness.runtime.processes import spawn, tail

SUITE = "<suite>"  # the outcome's name when the run produced no report at all
# The harness's own pytest11 entry point: never part of the team's suite. An environment can
# see it without having the harness installed (PYTHONPATH on a checkout holding its
# egg-info), and in the old side's environment its import then fails before any test runs.
HARNESS_PLUGIN = "harness.plugin"


@dataclass(frozen=True)
class SuiteRun:
    """Where and how one side runs the suite."""

    python: Path
    project: Path
    tracking_uri: str
    log_dir: Path
    label: str  # "from-2.9.2"
    extra_env: Mapping[str, str] | None = None  # S3 endpoint and credentials

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MLFLOW_", "PYTEST_ADDOPTS"))}
        env.update(self.extra_env or {})
        env["MLFLOW_TRACKING_URI"] = self.tracking_uri
        return env


def pytest_command(run: SuiteRun, args: Sequence[str], junit: Path) -> list[str]:
    """pytest with the team's arguments (none: its configured testpaths), a JUnit report that
    names each case's file, short tracebacks (to find the MLflow call), no cache writes, not
    the harness's plugin, and the other modules run when one cannot be imported (its error is
    that module's result)."""
    return [str(run.python), "-m", "pytest", *args, f"--junitxml={junit}",
            "-o", "junit_family=xunit1", "--tb=short", "-p", "no:cacheprovider",
            "-p", f"no:{HARNESS_PLUGIN}", "-q", "--continue-on-collection-errors"]


def run_suite(run: SuiteRun, args: Sequence[str], timeout_s: float,
              name: str = "suite") -> dict[str, Outcome]:
    """Run the suite once; a run past `timeout_s` or one that wrote no report is one error
    outcome named `<suite>` with its log's tail."""
    junit = run.log_dir / f"project-{run.label}-{name}.xml"
    log = run.log_dir / f"project-{run.label}-{name}.log"
    junit.unlink(missing_ok=True)
    process = spawn(f"project tests {run.label}", pytest_command(run, args, junit), log,
                    env=run.environment(), cwd=run.project)
    try:
        process.popen.wait(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        process.stop(grace_seconds=2)
    outcomes = read_junit(junit)
    if timed_out or not outcomes:
        why = f"timed out after {timeout_s:.0f}s" if timed_out else \
            f"pytest wrote no report (exit {process.popen.returncode})"
        outcomes[SUITE] = Outcome(SUITE, ERROR, why, tail(log, 30))
    return outcomes
