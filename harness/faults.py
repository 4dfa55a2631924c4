"""Pause points: let the harness's own tests interrupt a run at a known phase.

`MLFLOW_UPGRADE_HARNESS_PAUSE_AT=NAME[,NAME…]` makes the run stop at the first pause point
whose name starts with one of the NAMEs: every progress phase (`environment from`,
`start mlflow`, `scenarios`, `benchmarks`, `reports`, …) and `migration` (the drill's start).
It writes `paused at NAME` on stderr and waits up to PAUSE_SECONDS, or until the run is
cancelled, then goes on. Unset (always, outside tests) it costs one environment lookup.
"""

from __future__ import annotations

import os
import sys

from harness.runtime.processes import REGISTRY

PAUSE_ENV = "MLFLOW_UPGRADE_HARNESS_PAUSE_AT"
PAUSE_SECONDS = 120.0


def pause_point(name: str) -> None:
    """Wait here if a test asked to pause at `name`; raise Cancelled if the run is cancelled."""
    wanted = [part.strip() for part in os.environ.get(PAUSE_ENV, "").split(",") if part.strip()]
    if not any(name.startswith(prefix) for prefix in wanted):
        return
    sys.stderr.write(f"paused at {name}\n")
    sys.stderr.flush()
    REGISTRY.cancelled.wait(PAUSE_SECONDS)
    REGISTRY.check_cancelled()
