"""Child processes that always die with the run.

Every process the harness starts goes through `spawn`: it gets its own session (process group),
its output goes to a log file, and it is recorded in `REGISTRY` so that an interrupted run can
stop all of them at once, workers included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import Cancelled


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or an empty string when there is none."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """A child process in its own process group, with its output in `log_path`."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    owner: int = field(default_factory=os.getpid)  # the process that started it

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        if os.getpid() != self.owner:  # seen from a scenario lane (a fork): not its child
            return running(self.pid)
        return self.popen.poll() is None

    def logs(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM the whole group, then SIGKILL what is left after `grace_seconds`."""
        _signal_group(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            pass
        # Workers may outlive their parent: kill the group even when the leader is gone.
        _signal_group(self.popen.pid, signal.SIGKILL)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        REGISTRY.forget(self)


def running(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie (works for any process)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Registry:
    """Everything started by this run that must be stopped, plus the run's cancel flag."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    run_id: str = "none"
    _processes: list[ManagedProcess] = field(default_factory=list)
    _cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, process: ManagedProcess) -> None:
        with self._lock:
            self._processes.append(process)

    def forget(self, process: ManagedProcess) -> None:
        with self._lock:
            if process in self._processes:
                self._processes.remove(process)

    def add_cleanup(self, name: str, action: Callable[[], None]) -> Callable[[], None]:
        """Register a non-process resource (a container, a database); returns the action."""
        with self._lock:
            self._cleanups.append((name, action))
        return action

    def remove_cleanup(self, action: Callable[[], None]) -> None:
        with self._lock:
            self._cleanups = [(n, a) for n, a in self._cleanups if a is not action]

    def remove_cleanup_named(self, name: str) -> None:
        with self._lock:
            self._cleanups = [(n, a) for n, a in self._cleanups if n != name]

    def running(self) -> list[ManagedProcess]:
        with self._lock:
            return list(self._processes)

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled("run cancelled")

    def stop_everything(self) -> None:
        """Emergency teardown: newest first, processes then other resources."""
        self.cancelled.set()
        for process in reversed(self.running()):
            process.stop(grace_seconds=3)
        with self._lock:
            cleanups = list(reversed(self._cleanups))
            self._cleanups.clear()
        for _name, action in cleanups:
            try:
                action()
            except Exception:  # noqa: BLE001 - teardown must go on whatever one step does
                pass

    def reset(self) -> None:
        self.cancelled.clear()

    def forked(self) -> None:
        """In a forked scenario lane: forget what the parent started (the lane must never stop
        it) and start over with fresh locks; the lane registers and stops only its own."""
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._processes = []
        self._cleanups = []


REGISTRY = Registry()
RUN_ENV = "MLFLOW_UPGRADE_HARNESS_RUN"


def processes_of(run_id: str) -> dict[int, str]:
    """pid → command line of every live process (zombies aside) that carries this run's id:
    spawn puts it in each one's environment, and the workers they fork inherit it."""
    marker = f"{RUN_ENV}={run_id}".encode()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(") ", 1)[-1].split()[0] == "Z":
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(
                b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            continue
    return found


def sweep_run_processes(run_id: str) -> int:
    """Kill every process of this run that is still there: the last net, for what a killed
    scenario lane had started. Returns how many were killed."""
    killed = 0
    for pid in processes_of(run_id):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            continue
    return killed


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: int | None = None,
    group: int | None = None,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = None,
) -> ManagedProcess:
    """Start `argv` in a new session with stderr (and stdout unless given) in `log_path`."""
    REGISTRY.check_cancelled()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Every process (and every worker it forks) carries the run's id, so a leak is attributable.
    environment = dict(env if env is not None else os.environ)
    environment[RUN_ENV] = REGISTRY.run_id
    log = log_path.open("ab")
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=stdout if stdout is not None else log,
            stderr=log,
            env=environment,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=group,
            extra_groups=[] if user is not None else None,
        )
    finally:
        log.close()
    process = ManagedProcess(name=name, popen=popen, log_path=log_path)
    REGISTRY.add(process)
    return process


def run_to_completion(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    user: int | None = None,
    group: int | None = None,
) -> int:
    """Run a short command as a managed process; returns its exit code (-1 on timeout)."""
    process = spawn(name, argv, log_path, env=env, user=user, group=group)
    deadline = time.monotonic() + timeout
    try:
        while process.alive():
            if REGISTRY.cancelled.is_set():
                raise Cancelled("run cancelled")
            if time.monotonic() > deadline:
                return -1
            time.sleep(0.05)
        return process.popen.returncode
    finally:
        process.stop(grace_seconds=2)
