"""Latency injection inside the servers (no proxy in between): the delays (a fraction of the
old side's median time), the environment that loads the hook (`inject_site/sitecustomize.py`)
and the delays file it reads."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING

from harness.bench.operations import ALL, BY_NAME

if TYPE_CHECKING:
    from harness.bench.analysis import Samples
    from harness.bench.tuning import BenchSettings

SITE_DIR = Path(__file__).resolve().parent / "inject_site"
DELAYS_FILE_ENV = "MUH_INJECT_DELAYS_FILE"


def injected_delays(
    settings: BenchSettings, warmup: Samples
) -> tuple[dict[str, float], tuple[tuple[str, float], ...]]:
    """Per injected operation, a fixed delay = fraction × the old side's median over warm
    calls (`warmup`); and the route → delay table."""
    per_op: dict[str, float] = {}
    for name, fraction in settings.inject:
        targets = [op for op in settings.operations if BY_NAME[op].routes] if name == ALL \
            else [name]
        for op in targets:
            if op in warmup.old:
                per_op[op] = fraction * median(warmup.old[op])
    routes = tuple((route, seconds) for op, seconds in per_op.items()
                   for route in BY_NAME[op].routes)
    return per_op, routes


def delays_file(log_dir: Path, role: str) -> Path:
    return log_dir / f"injected-delays-{role}.json"


def server_env(delays: Path) -> dict[str, str]:
    """The variables that make a server process (and its workers) load the hook; the delays
    file is created empty, so the hook is present but idle until delays are written."""
    if not delays.exists():
        write_delays(delays, {})
    return {"PYTHONPATH": str(SITE_DIR), DELAYS_FILE_ENV: str(delays)}


def write_delays(path: Path, routes: Mapping[str, float]) -> None:
    """Replace the delays atomically: a server never reads half a file."""
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps({"routes": {r: round(s, 6) for r, s in routes.items()}}))
    os.replace(partial, path)
