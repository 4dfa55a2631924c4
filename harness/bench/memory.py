"""Memory and CPU of each server while the benchmark times it, read from /proc.

Every server runs in a process group of its own (`runtime.processes.spawn`): the `mlflow`
command, its gunicorn master or uvicorn supervisor, and the workers. Every SAMPLE_S the
sampler reads each process of the group: its resident memory (`statm`) and its CPU time
(`stat`'s utime + stime). A worker is a process of the group with no children in it (the
processes that spawn others are the command and its supervisor); multiprocessing's resource
tracker is none. A server in a container (`--from-image`) is not a process group here: its
memory is not read, and the result says so.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_S = 0.5
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MB = 1024 * 1024
HELPERS = ("resource_tracker", "semaphore_tracker")


@dataclass
class Process:
    pid: int
    parent: int
    command: str
    peak_rss: int = 0
    first_cpu: float | None = None
    last_cpu: float = 0.0

    @property
    def cpu_s(self) -> float:
        return self.last_cpu - (self.first_cpu or 0.0)


def read_process(pid: int, proc: Path = Path("/proc")) -> tuple[int, int, int, float] | None:
    """(parent, process group, resident bytes, CPU seconds) of `pid`; None once it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        resident = int((proc / str(pid) / "statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    parent, group = int(fields[1]), int(fields[2])
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    return parent, group, resident, cpu


def _command(pid: int, proc: Path) -> str:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]


@dataclass
class GroupWatch:
    """One server's process group: each process seen, its peak memory and CPU time."""

    group: int
    processes: dict[int, Process] = field(default_factory=dict)
    peak_total: int = 0

    def sample(self, proc: Path, pids: list[int]) -> None:
        total = 0
        for pid in pids:
            found = read_process(pid, proc)
            if found is None or found[1] != self.group:
                continue
            parent, _, resident, cpu = found
            seen = self.processes.get(pid)
            if seen is None:
                seen = self.processes[pid] = Process(pid, parent, _command(pid, proc))
            seen.peak_rss = max(seen.peak_rss, resident)
            seen.first_cpu = cpu if seen.first_cpu is None else seen.first_cpu
            seen.last_cpu = cpu
            total += resident
        self.peak_total = max(self.peak_total, total)

    def workers(self) -> list[Process]:
        parents = {p.parent for p in self.processes.values()}
        return [p for p in self.processes.values() if p.pid not in parents
                and p.pid != self.group and not any(h in p.command for h in HELPERS)]

    def to_dict(self) -> dict[str, Any]:
        workers = sorted(self.workers(), key=lambda p: -p.peak_rss)
        return {
            "processes": len(self.processes),
            "workers": len(workers),
            "peak_worker_rss_mb": round(workers[0].peak_rss / MB, 1) if workers else None,
            "worker_rss_mb": [round(p.peak_rss / MB, 1) for p in workers],
            "peak_total_rss_mb": round(self.peak_total / MB, 1),
            "cpu_s": round(sum(p.cpu_s for p in self.processes.values()), 1),
        }


class ServerMemory:
    """Samples each server's process group (`groups`: side → group id, or None when the
    server is not a local process group) from `start` to `stop`."""

    def __init__(self, groups: dict[str, int | None], proc: Path = Path("/proc")) -> None:
        self.proc = proc
        self.watches = {side: GroupWatch(group) for side, group in groups.items()
                        if group is not None}
        self.unread = sorted(side for side, group in groups.items() if group is None)
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        pids = [int(entry.name) for entry in self.proc.iterdir() if entry.name.isdigit()]
        for watch in self.watches.values():
            watch.sample(self.proc, pids)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> ServerMemory:
        self._thread = threading.Thread(target=self._run, daemon=True, name="server-memory")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {side: watch.to_dict() for side, watch in self.watches.items()}
        found.update({side: {"unread": "the server does not run in a process group of this "
                                       "machine (a container)"} for side in self.unread})
        return {"sample_s": SAMPLE_S, "samples": self.samples, "servers": found}
