"""A CLI run in the background that a test can watch line by line and poke (signals, faults)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from harness.runtime.processes import sweep_run_processes
from tests.integration.conftest import harness_cmd, run_folders

RUN_LINE = re.compile(r" run (\w+): ")
STOP_S = 120.0  # a left-over run's own teardown, after SIGTERM
_STARTED: list[LiveRun] = []


def _ctrl_c_as_at_a_terminal() -> None:
    """A run in the foreground of a terminal takes Ctrl-C. A test runner started in the
    background of a shell script inherits SIGINT ignored (POSIX), and so would every run it
    starts: the run is put back in the foreground's state, which is what the tests poke."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class LiveRun:
    """`mlflow-upgrade-harness run …` as a child process; its stderr is collected as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.out = Path(args[args.index("--out") + 1])
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            harness_cmd(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_as_at_a_terminal,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.lines: list[str] = []
        self.stdout = ""
        self._changed = threading.Condition()
        self._stderr_done = False
        threading.Thread(target=self._read_stderr, daemon=True).start()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        _STARTED.append(self)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._stderr_done = True
            self._changed.notify_all()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    @property
    def run_id(self) -> str:
        found = RUN_LINE.search(self.stderr)
        return found.group(1) if found else ""

    def wait_for(self, text: str, timeout: float = 300) -> str:
        """The first stderr line containing `text`; fails (with the output) if the run ends or
        `timeout` passes first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                if self._stderr_done:
                    raise AssertionError(f"run ended before {text!r}:\n{self.stderr[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {text!r} within {timeout:g}s:\n"
                                         f"{self.stderr[-3000:]}")
                self._changed.wait(0.5)

    def finish(self, timeout: float = 300) -> float:
        """Wait for the exit (killing the run if it overstays); returns the seconds it took."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the run did not end within {timeout:g}s:\n"
                                 f"{self.stderr[-3000:]}") from None
        time.sleep(0.3)  # let the readers drain
        return time.monotonic() - self.started


def group_of(run_id: str, *needles: str) -> int:
    """The process group of the run's process whose command line has every needle."""
    from tests.integration.conftest import harness_processes

    matches = sorted(pid for pid, cmd in harness_processes(run_id)
                     if all(n in cmd for n in needles))
    if not matches:
        raise AssertionError(f"no process of run {run_id} with {needles}: "
                             f"{harness_processes(run_id)}")
    return os.getpgid(matches[0])


def process_logging_to(run_id: str, log_name: str) -> int:
    """The pid of the run's process whose stderr goes to the log file `log_name`."""
    from tests.integration.conftest import harness_processes

    for pid, _cmd in sorted(harness_processes(run_id)):
        try:
            target = os.readlink(f"/proc/{pid}/fd/2")
        except OSError:
            continue
        if Path(target).name == log_name:
            return pid
    raise AssertionError(f"no process of run {run_id} logs to {log_name}")


def stop_leftover_runs() -> None:
    """Stop every run a test started and left running (it failed before its signal): SIGTERM
    so the run tears down what it started, then SIGKILL and a sweep by run id. Once left
    paused, a run went on alone and its servers outlived it."""
    while _STARTED:
        run = _STARTED.pop()
        if run.proc.poll() is not None:
            continue
        run.proc.send_signal(signal.SIGTERM)
        try:
            run.proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()
        if run.run_id:
            # Twice: a child the killed run forked an instant before still carries the run's
            # own environment (no run marker) until it has exec'd (seen: two servers left).
            sweep_run_processes(run.run_id)
            time.sleep(1.0)
            sweep_run_processes(run.run_id)
            for folder in run_folders(run.run_id):
                shutil.rmtree(folder, ignore_errors=True)
