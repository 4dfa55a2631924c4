"""The benchmark's numbers: the harness's tuning (`Tuning`, one default `TUNING`) and the
user's settings for a phase (`BenchSettings`, which carries the tuning it runs with).

The shares of the budget are the ones the gate was calibrated with
(benchmarks/gate_calibration.py, docs/measurements.md); a test passes a `Tuning` of its own
instead of patching module constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.bench.operations import UNSCALED


@dataclass(frozen=True)
class Tuning:
    """Rounds, shares of the budget and time limits of the benchmark phase."""

    min_fast_rounds: int = 4  # each (process, first) pair once: fewer and no interval means much
    fresh_rounds: int = 6  # re-timing regressed operations on new connections (diagnosis)
    inject_basis_passes: int = 2  # warm passes over injected operations: their delay's basis
    confirm_rounds: int = 8  # a change seen in fewer rounds gets more before it is decided
    cheap_s: float = 1.0  # a round of an operation costing less (both servers) is cheap
    expensive_every: int = 4  # adaptive rounds include the expensive undecided ones this often
    max_fast_rounds: int = 60
    # Past its deadline or `max_fast_rounds`, the gate goes on with the operations whose
    # interval straddles the threshold and that more rounds would likely settle, for up to
    # this share of its own time more and `straddler_rounds` rounds in all (then `settle`).
    straddler_extension: float = 1 / 3
    straddler_rounds: int = 120
    large_rounds: int = 3
    # A 64 MB transfer still running after this is stopped, its sample extrapolated from the
    # rate so far: 3.4.0 streams such a file at ~1 MB/s, and a minute per download would
    # leave no budget for rounds that decide anything.
    large_cap_s: float = 8.0
    remedy_large_rounds: int = 2
    client_processes: int = 2
    client_share: float = 0.25  # of the budget, for the client-side comparison
    call_timeout_s: float = 900.0
    large_share: float = 0.4  # of the budget: the large transfers' rounds (3 of ≤ 24 s)
    # Of the budget: regressed operations on new connections, and the gate re-run against a
    # server with a cause's remedy (only when something regressed).
    diagnosis_share: float = 0.25
    remedy_stop_wait_s: float = 10.0  # for a remedy server's start under way at the end


TUNING = Tuning()


@dataclass(frozen=True)
class BenchSettings:
    """What the user asked of the phase, and the tuning it runs with."""

    budget_s: float = 180.0
    threshold: float = 0.20
    inject: tuple[tuple[str, float], ...] = ()
    fail_on_inconclusive: bool = False
    operations: tuple[str, ...] = UNSCALED  # the phase adds those at scale with a store
    client_side: bool = True
    # Pass-through proxies in front of both servers: needed to inject latency (and then on
    # both sides, so their cost is symmetric); off by default, as clients talk to servers
    # directly in production and a proxy changes connection behaviour.
    proxies: bool = False
    tuning: Tuning = TUNING
