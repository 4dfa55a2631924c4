"""A server's own health while the run uses it: its log and its /health, watched from a daemon
thread of the harness process.

Two things are recorded per server: each worker its supervisor replaced (uvicorn's "Child
process [N] died", gunicorn's "Worker (pid:N) was sent SIGKILL!", "WORKER TIMEOUT"), and each
period /health did not answer (polled every POLL_S, each poll bounded by PROBE_TIMEOUT_S). The
machine's load average is sampled with them: with more workers than CPUs, uvicorn's supervisor
kills a worker that misses its health ping on a starved machine, and what was in flight fails.
What that means for the run (one finding, its cause and remedy, the checks it touched) is
`harness/deploy/rerun.py`'s.
"""

from __future__ import annotations

import http.client
import os
import re
import threading
import time
from dataclasses import dataclass, field

from harness.runtime.ports import LOOPBACK
from harness.runtime.processes import REGISTRY
from harness.services.mlflow_server import MlflowServer

POLL_S = 2.0
PROBE_TIMEOUT_S = 2.0
RECOVERY_S = 45.0  # how long a server that stopped answering gets to answer again
# Lines of a server's log that say its supervisor replaced a worker: (pattern, kind).
RESTART_LINES = (
    (re.compile(r"Child process \[(?P<pid>\d+)\] died"), "died"),
    (re.compile(r"WORKER TIMEOUT \(pid:(?P<pid>\d+)\)"), "timeout"),
    (re.compile(r"Worker \(pid:(?P<pid>\d+)\) was sent (?P<signal>\w+)"), "signal"),
    (re.compile(r"Worker \(pid:(?P<pid>\d+)\) exited with code (?P<code>\d+)"), "exit"),
)


@dataclass(frozen=True)
class WorkerRestart:
    seconds: float  # since the monitor started
    pid: int
    kind: str  # died | timeout | signal | exit
    line: str


@dataclass
class ServerWatch:
    """What one monitor saw (a copy: safe to read while the monitor runs)."""

    server: str
    restarts: list[WorkerRestart] = field(default_factory=list)
    unanswered: list[tuple[float, float]] = field(default_factory=list)  # (from, to) seconds
    max_load: float = 0.0
    seconds: float = 0.0
    answering: bool = True  # whether it answered at the last poll (it recovered)

    @property
    def troubled(self) -> bool:
        return bool(self.restarts or self.unanswered)

    @property
    def unanswered_s(self) -> float:
        return sum(end - start for start, end in self.unanswered)


def restarts_in(text: str, seconds: float) -> list[WorkerRestart]:
    """The worker replacements the log lines in `text` record (the one of a worker gunicorn
    timed out and then saw killed counts once)."""
    found: list[WorkerRestart] = []
    for line in text.splitlines():
        for pattern, kind in RESTART_LINES:
            match = pattern.search(line)
            if match and not any(r.pid == int(match["pid"]) for r in found):
                found.append(WorkerRestart(seconds, int(match["pid"]), kind, line.strip()[-300:]))
                break
    return found


class ServerMonitor:
    """Watches `server` from `start` to `stop`; `watch()` is what it saw so far."""

    def __init__(self, server: MlflowServer, poll_s: float = POLL_S) -> None:
        self.server = server
        self.poll_s = poll_s
        self._seen = ServerWatch(server.name)
        self._offset = 0
        self._down_since: float | None = None
        self._began = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ServerMonitor:
        self._began = time.monotonic()
        try:
            self._offset = self.server.log_path.stat().st_size  # start-up is not the run's
        except OSError:
            self._offset = 0
        self._thread = threading.Thread(target=self._run, name=f"monitor {self.server.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=PROBE_TIMEOUT_S + 1)
            self._thread = None
        self._poll(health=False)  # the log's last lines

    def watch(self) -> ServerWatch:
        with self._lock:
            now = self._now()
            down = [(self._down_since, now)] if self._down_since is not None else []
            return ServerWatch(self._seen.server, list(self._seen.restarts),
                               self._seen.unanswered + down, self._seen.max_load, now,
                               answering=not down)

    def _now(self) -> float:
        return round(time.monotonic() - self._began, 1)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._poll()

    def _poll(self, health: bool = True) -> None:
        text = self._read_log()
        answered = answers(self.server) if health else None
        load = os.getloadavg()[0]
        with self._lock:
            now = self._now()
            self._seen.restarts += [r for r in restarts_in(text, now)
                                    if all(r.pid != s.pid for s in self._seen.restarts)]
            self._seen.max_load = max(self._seen.max_load, round(load, 2))
            if answered is None:
                return
            if not answered and self._down_since is None:
                self._down_since = now
            elif answered and self._down_since is not None:
                self._seen.unanswered.append((self._down_since, now))
                self._down_since = None

    def _read_log(self) -> str:
        try:
            with self.server.log_path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read(1 << 20)
        except OSError:
            return ""
        # Only whole lines: a line being written is read on the next poll.
        whole = data[:data.rfind(b"\n") + 1]
        self._offset += len(whole)
        return whole.decode("utf-8", errors="replace")



def answers(server: MlflowServer) -> bool:
    """One GET of the server's /health, bounded by PROBE_TIMEOUT_S: 200 or not."""
    if not server.alive():
        return False
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=PROBE_TIMEOUT_S)
    try:
        connection.request("GET", server.health_path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def answers_again(server: MlflowServer, within_s: float = RECOVERY_S) -> bool:
    """Whether a server that did not answer at the end of the scenarios does again within
    `within_s` (a supervisor replacing its workers takes seconds; a frozen server never)."""
    deadline = time.monotonic() + within_s
    while not answers(server):
        if time.monotonic() > deadline or REGISTRY.cancelled.wait(POLL_S):
            return False
    return True
