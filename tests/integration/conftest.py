"""Integration tests start real PostgreSQL, S3 and MLflow servers through the CLI."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.runtime.processes import processes_of

OLD, NEW = os.environ.get("HARNESS_TEST_FROM", "2.9.2"), os.environ.get("HARNESS_TEST_TO", "3.4.0")


def harness_processes(run_id: str) -> set[tuple[int, str]]:
    """(pid, cmdline) of every live process started by run `run_id` (workers included)."""
    return {(pid, cmdline[:200]) for pid, cmdline in processes_of(run_id).items()}


def run_folders(run_id: str) -> set[str]:
    tmp = tempfile.gettempdir()
    return set(glob.glob(f"{tmp}/mlflow-upgrade-harness-*{run_id}*"))


@dataclass
class CliRun:
    code: int
    out: Path
    stdout: str
    stderr: str


# Servers in these tests run 2 workers each, not MLflow's default 4: 8 workers importing MLflow
# on 2 cores add ~30 s to every start. Tests of the default set-up say `default_setup=True`.
TEST_SERVER_WORKERS = ("--server-workers", "2")


def harness_cmd(*args: str, default_setup: bool = False) -> list[str]:
    extra: tuple[str, ...] = ()
    if args and args[0] == "run" and not default_setup and not any(
            "server-arg" in a or a == "--server-workers" for a in args):
        extra = TEST_SERVER_WORKERS
    return [sys.executable, "-m", "harness", *args, *extra]


def run_cli(*args: str, timeout: float = 900, env: dict[str, str] | None = None,
            default_setup: bool = False) -> CliRun:
    out = Path(args[args.index("--out") + 1])
    proc = subprocess.run(harness_cmd(*args, default_setup=default_setup), capture_output=True,
                          text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    return CliRun(proc.returncode, out, proc.stdout, proc.stderr)



def run_cli_on_terminal(*args: str, timeout: float = 900) -> tuple[CliRun, str]:
    """`run_cli` on a pseudo-terminal, as a person at a terminal runs it: the result (the
    console in `stderr`, stdout and stderr share the terminal) and the raw screen bytes."""
    import io

    import pexpect

    out = Path(args[args.index("--out") + 1])
    command = harness_cmd(*args)
    child = pexpect.spawn(command[0], command[1:], encoding="utf-8", timeout=timeout,
                          dimensions=(40, 160), env={**os.environ, "TERM": "xterm-256color",
                                                     "PYTHONUNBUFFERED": "1"})
    child.logfile_read = screen = io.StringIO()
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)  # a run past its bound is killed, not left behind
    code = child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 1)
    raw = screen.getvalue()
    return CliRun(code, out, "", raw), raw



@pytest.fixture(autouse=True)
def _stop_leftover_live_runs() -> Iterator[None]:
    """A test that fails before it stops its background runs leaves nothing running."""
    yield
    from tests.integration.live_run import stop_leftover_runs

    stop_leftover_runs()


# The run id of a test's own stores (external_store.py): one per xdist worker, so neither
# worker's checks by run id see the other's.
FIXTURE_RUN_ID = f"test-fixture-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


@pytest.fixture(scope="session")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """The README's first command without the benchmark (test_benchmark_gate.py has its own
    runs): every scenario, the matrix, the default server set-up and lanes. One run, read by
    the end-to-end tests and compared with a sequential run by the repeatability test."""
    out = tmp_path_factory.mktemp("full") / "report"
    return run_cli("run", "--from", OLD, "--to", NEW, "--out", str(out), "--provider", "local",
                   "--no-bench", default_setup=True)
