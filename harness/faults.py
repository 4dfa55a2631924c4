"""Pause points: let the harness's own tests interrupt a run at a known phase.

`MLFLOW_UPGRADE_HARNESS_PAUSE_AT=NAME[,NAME…]` makes the run stop at the first pause point
whose name starts with one of the NAMEs: every progress phase (`environment from`,
`start mlflow`, `scenarios`, `benchmarks`, `reports`, …) and `migration` (the drill's start).
It writes `paused at NAME` on stderr and waits up to PAUSE_SECONDS, or until the run is
cancelled (Cancelled) or a signal arrives (KeyboardInterrupt, in the main thread), then goes
on (saying `pause ran out at NAME` if nothing came). Unset (always, outside tests) it costs
one environment lookup.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from harness.errors import Cancelled
from harness.runtime.processes import REGISTRY

PAUSE_ENV = "MLFLOW_UPGRADE_HARNESS_PAUSE_AT"
PAUSE_SECONDS = 120.0
# The real stderr, kept before anything (the in-process pytest of the scenarios) captures fd 2.
_STDERR = os.dup(2) if os.environ.get(PAUSE_ENV) else 2


def pause_point(name: str) -> None:
    """Wait here if a test asked to pause at `name`; raise Cancelled if the run is cancelled."""
    wanted = [part.strip() for part in os.environ.get(PAUSE_ENV, "").split(",") if part.strip()]
    if not any(name.startswith(prefix) for prefix in wanted):
        return
    # The cancel flag is read before the line goes out: the test sends its signal when it
    # reads the line, and a cancel taken for "already set at the start" would sleep through
    # it (seen in CI: a worker's pause held the run 120 s after SIGTERM).
    stale = REGISTRY.cancelled.is_set()
    if stale and threading.current_thread() is not threading.main_thread():
        raise Cancelled("run cancelled")  # a worker has no signal to wait for: it ends now
    sys.stderr.flush()
    os.write(_STDERR, f"paused at {name}\n".encode())
    # After teardown the cancel flag stays set; a pause of the main thread then (the reports)
    # waits for the signal, which reaches it as KeyboardInterrupt.
    deadline = time.monotonic() + PAUSE_SECONDS
    while time.monotonic() < deadline:
        if stale:
            time.sleep(0.2)
        elif REGISTRY.cancelled.wait(0.2):
            raise Cancelled("run cancelled")
    # Said, so that a test can tell a run that ended on its signal from one that went on only
    # because the pause ran out.
    os.write(_STDERR, f"pause ran out at {name}\n".encode())
