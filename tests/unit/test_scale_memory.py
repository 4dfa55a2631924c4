"""Each server's memory and CPU from /proc: its process group, its workers, its peak."""

from __future__ import annotations

from pathlib import Path

from harness.bench.memory import PAGE, TICKS, ServerMemory, read_process


def _process(proc: Path, pid: int, parent: int, group: int, pages: int, ticks: int,
             command: str) -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    # stat: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime …
    (folder / "stat").write_text(f"{pid} (py thon) S {parent} {group} {group} 0 -1 0 0 0 0 0 "
                                 f"{ticks} {ticks} 0 0 20 0 1 0\n")
    (folder / "statm").write_text(f"{pages * 3} {pages} 10 1 0 5 0\n")
    (folder / "cmdline").write_bytes(command.replace(" ", "\0").encode())


def test_a_server_group_gives_its_workers_peak_memory_and_cpu(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    _process(proc, 100, 1, 100, 1000, 10, "mlflow server --workers 2")  # the command
    _process(proc, 101, 100, 100, 2000, 20, "gunicorn master")  # its supervisor
    _process(proc, 102, 101, 100, 30000, 300, "gunicorn worker")
    _process(proc, 103, 101, 100, 20000, 100, "gunicorn worker")
    _process(proc, 104, 101, 100, 500, 1, "python -c from multiprocessing.resource_tracker")
    _process(proc, 200, 1, 200, 99999, 5, "another server")
    assert read_process(102, proc) == (101, 100, 30000 * PAGE, 600 / TICKS)
    memory = ServerMemory({"from": 100, "to": None}, proc)
    memory.sample()
    _process(proc, 102, 101, 100, 25000, 400, "gunicorn worker")  # later: less, more CPU
    _process(proc, 103, 101, 100, 40000, 150, "gunicorn worker")
    memory.sample()
    found = memory.to_dict()
    old = found["servers"]["from"]
    mb = PAGE / 1024 / 1024
    assert old["processes"] == 5 and old["workers"] == 2
    assert old["worker_rss_mb"] == [round(40000 * mb, 1), round(30000 * mb, 1)]
    assert old["peak_worker_rss_mb"] == round(40000 * mb, 1)
    assert old["peak_total_rss_mb"] == round((1000 + 2000 + 25000 + 40000 + 500) * mb, 1)
    assert old["cpu_s"] == round((200 + 100) / TICKS, 1)  # only what it spent while watched
    assert "container" in found["servers"]["to"]["unread"] and found["samples"] == 2
