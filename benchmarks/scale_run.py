"""A full run at a `--scale`, with what it needs of the machine: wall time, the peak disk and
memory it used, and the figures of its "At your scale" section.

    python benchmarks/scale_run.py --from 2.9.2 --to 3.4.0 --scale medium [--json out.json] \
        [-- extra run options, e.g. --no-bench or -k test_migration]

Disk is the growth of the used space of the filesystem holding the temp folder (where the
local provider's PostgreSQL keeps its data) and memory the growth of the machine's used memory
(MemTotal − MemAvailable), both sampled every SAMPLE_S against their values before the run:
run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SAMPLE_S = 2.0
GB = 1024 ** 3


def used_disk(path: str) -> int:
    stat = os.statvfs(path)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


def used_memory() -> int:
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kib = {key: int(value.split()[0]) for key, value in fields.items()}
    return (kib["MemTotal"] - kib["MemAvailable"]) * 1024


class Peaks:
    """The largest growth of used disk and memory while the run goes."""

    def __init__(self) -> None:
        self.folder = tempfile.gettempdir()
        self.disk0, self.memory0 = used_disk(self.folder), used_memory()
        self.disk = self.memory = 0
        self.stop = threading.Event()

    def watch(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            self.disk = max(self.disk, used_disk(self.folder) - self.disk0)
            self.memory = max(self.memory, used_memory() - self.memory0)


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The run's figures: phases, verdict, and its `scale` section without the samples."""
    scale = dict(results.get("scale") or {})
    store = dict(scale.get("store") or {})
    store.pop("samples", None)
    scale["store"] = store
    return {"status": results["status"], "duration_s": results["duration_s"],
            "phases": results["phases"], "verdict": results.get("verdict"), "scale": scale}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="old", default="2.9.2")
    parser.add_argument("--to", dest="new", default="3.4.0")
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--json", type=Path)
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()
    peaks = Peaks()
    watcher = threading.Thread(target=peaks.watch, daemon=True)
    watcher.start()
    with tempfile.TemporaryDirectory(prefix="muh-scale-run-") as tmp:
        out = Path(tmp) / "report"
        began = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "harness", "run", "--from", args.old, "--to", args.new,
             "--out", str(out), "--scale", args.scale, "--quiet", *args.extra],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=4 * 3600)
        seconds = time.monotonic() - began
        peaks.stop.set()
        watcher.join()
        results = json.loads((out / "results.json").read_text())
    record = {"size": args.scale, "from": args.old, "to": args.new, "extra": args.extra,
              "seconds": round(seconds, 1), "exit_code": proc.returncode,
              "peak_disk_gb": round(peaks.disk / GB, 2),
              "peak_memory_gb": round(peaks.memory / GB, 2),
              "stderr_tail": proc.stderr[-2000:], **summary(results)}
    print(json.dumps({k: record[k] for k in ("size", "seconds", "exit_code", "peak_disk_gb",
                                              "peak_memory_gb")}))
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 0 if proc.returncode in (0, 1) else 1


if __name__ == "__main__":
    raise SystemExit(main())
