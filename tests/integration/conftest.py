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

HARNESS_PROCESS_MARKERS = ("mlflow server", "moto.server", "agent.py", "postgres -D",
                           "gunicorn", "uvicorn", "mlflow.server")


def harness_processes() -> set[tuple[int, str]]:
    """(pid, cmdline) of every live process that looks like something the harness starts."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = (entry / "stat").read_text().split(") ")[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(marker in cmdline for marker in HARNESS_PROCESS_MARKERS):
            found.add((int(entry.name), cmdline[:200]))
    return found


def run_folders() -> set[str]:
    tmp = tempfile.gettempdir()
    return set(glob.glob(f"{tmp}/mlflow-upgrade-harness-*"))


@dataclass
class CliRun:
    code: int
    out: Path
    stdout: str
    stderr: str


def harness_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def run_cli(*args: str, timeout: float = 900) -> CliRun:
    out = Path(args[args.index("--out") + 1])
    proc = subprocess.run(harness_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return CliRun(proc.returncode, out, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def baseline_leftovers() -> Iterator[tuple[set[tuple[int, str]], set[str]]]:
    yield harness_processes(), run_folders()
