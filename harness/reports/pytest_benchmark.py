"""The raw samples as pytest-benchmark JSON: one file per side, readable by its tools.

`benchmark-old.json` and `benchmark-new.json` hold one benchmark per operation (group
`server-side` or `client-side`) with pytest-benchmark's statistics and the raw `data`, so
`pytest-benchmark compare benchmark-old.json benchmark-new.json` and any dashboard that reads
its format work on the harness's numbers.
"""

from __future__ import annotations

import json
import math
import platform
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean, median, quantiles, stdev
from typing import Any

from harness.bench.result import BenchmarkResult

FORMAT_VERSION = "5.1.0"


def stats(data: list[float]) -> dict[str, Any]:
    """pytest-benchmark's `stats` block for one list of seconds."""
    q1, _, q3 = quantiles(data, n=4, method="inclusive") if len(data) > 1 else (data[0],) * 3
    iqr = q3 - q1
    average = mean(data)
    spread = stdev(data) if len(data) > 1 else 0.0
    low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    return {
        "min": min(data), "max": max(data), "mean": average, "stddev": spread,
        "rounds": len(data), "median": median(data), "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": sum(1 for d in data if d < low or d > high),
        "stddev_outliers": sum(1 for d in data if abs(d - average) > spread) if spread else 0,
        "outliers": "", "ld15iqr": min(d for d in data if d >= low),
        "hd15iqr": max(d for d in data if d <= high),
        "ops": 1 / average if average > 0 else math.inf, "total": sum(data),
        "data": data, "iterations": 1,
    }


def document(result: BenchmarkResult, side: str) -> dict[str, Any]:
    benchmarks = []
    for part in result.parts:
        for op in part.operations:
            data = op.old_samples if side == "old" else op.new_samples
            if not data:  # a transfer that failed before its first round
                continue
            benchmarks.append({
                "group": part.name.replace("_", "-"), "name": op.name,
                "fullname": f"mlflow-upgrade-harness::{part.name}::{op.name}", "params": None,
                "param": None, "extra_info": {"side": side}, "options": {"rounds": len(data)},
                "stats": stats(data),
            })
    return {
        "machine_info": {"node": platform.node(), "processor": platform.processor(),
                         "machine": platform.machine(), "python_version":
                         platform.python_version(), "system": platform.system()},
        "commit_info": {},
        "benchmarks": benchmarks,
        "datetime": datetime.now(UTC).isoformat(),
        "version": FORMAT_VERSION,
    }


def write_pytest_benchmark(result: BenchmarkResult, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for side in ("old", "new"):
        (out_dir / f"benchmark-{side}.json").write_text(json.dumps(document(result, side),
                                                                   indent=1))
