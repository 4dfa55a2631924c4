"""Does the regression gate cry wolf, or miss? Counted over many gates on this machine.

    python benchmarks/gate_calibration.py --version 3.4.0 --gates 20 \
        --inject get_run=30 \
        --json docs/data/gate-calibration-3.4.0-<set-up>-<commit>-<date>.json

The configuration users run by default: servers with `mlflow server`'s own worker count,
clients talking to them directly (no proxy), the latency injected inside the new server
(`harness/bench/inject.py`). `--budget SECONDS` gives each gate the harness's own adaptive
schedule (default: the server-side share of the default `--bench-budget`); `--rounds N`
instead times every operation in exactly N rounds.

Provisions one same-version run (both sides the same MLflow, separate databases, same seeded
data), then runs `--gates` server-side gates with no change (every regression is a false alarm)
and `--gates` gates with `--inject` latency on one operation (a gate that does not call that
operation a regression missed it). Every gate uses fresh interleaved samples. The same samples
are also judged by pytest-benchmark's `--benchmark-compare-fail=median:20%` rule.
`--client-gates N` adds N client-side comparisons (each version's own client against the new
server, the client side's default share of the budget) between the two: how many of them
decide, and whether any calls a regression.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.bench.operations import BY_NAME, UNSCALED, parse_injection
from harness.bench.runner import Benchmark, BenchSettings
from harness.bench.tuning import TUNING
from harness.config import build_config
from harness.progress import Progress
from harness.session import RunSession

# Every operation of the default gate but the 64 MB transfers (a minute a round on 3.4.0).
DEFAULT_OPERATIONS = tuple(name for name in UNSCALED if not BY_NAME[name].large)  # as a run times
DEFAULT_BUDGET_S = BenchSettings().budget_s * (1 - TUNING.client_share)
CLIENT_BUDGET_S = BenchSettings().budget_s * TUNING.client_share


def _caveats(gate: dict[str, Any], threshold: float) -> list[str]:
    """Undecided operations whose estimate is over the threshold: the verdict's caveats."""
    return sorted(op for op, c in gate["operations"].items()
                  if c["verdict"] == "inconclusive" and (c.get("ratio") or 0) > 1 + threshold)


def count(gates: list[dict[str, Any]], injected: str | None,
          threshold: float = 0.20) -> dict[str, Any]:
    gate_alarms = [sorted(op for op, c in g["operations"].items()
                          if c["verdict"] == "regression") for g in gates]
    caveats = [_caveats(g, threshold) for g in gates]
    rule_alarms = [sorted(op for op, c in g["operations"].items() if c["median_rule_fails"])
                   for g in gates]
    summary: dict[str, Any] = {
        "gates": len(gates),
        "gate_raised": sum(1 for a in gate_alarms if a),
        "median_rule_raised": sum(1 for a in rule_alarms if a),
        "gate_alarms": gate_alarms,
        "median_rule_alarms": rule_alarms,
        "inconclusive": [g["gate"]["inconclusive"] for g in gates],
        "caveats": caveats,  # undecided with the estimate over the threshold
        "gates_with_a_caveat": sum(1 for c in caveats if c),
        "decided_by_estimate": [sorted(op for op, c in g["operations"].items()
                                       if c.get("decided_by") == "estimate") for g in gates],
        "decided_share": round(1 - sum(len(g["gate"]["inconclusive"]) for g in gates)
                               / max(1, sum(len(g["operations"]) for g in gates)), 3),
        "rounds": [g["rounds"] for g in gates],
        # each gate's operations: [verdict, ratio, low, high, rounds], the raw figures
        "per_operation": [{op: [c["verdict"], c.get("ratio"), c.get("low"), c.get("high"),
                                c.get("rounds")] for op, c in g["operations"].items()}
                          for g in gates],
        "seconds": [g["seconds"] for g in gates],
    }
    if injected is not None:
        summary["gate_caught"] = sum(1 for a in gate_alarms if injected in a)
        summary["median_rule_caught"] = sum(1 for a in rule_alarms if injected in a)
        summary["gate_false_alarms_elsewhere"] = sum(
            1 for a in gate_alarms if set(a) - {injected})
        summary["median_rule_false_alarms_elsewhere"] = sum(
            1 for a in rule_alarms if set(a) - {injected})
        summary["ratios"] = [g["operations"][injected]["ratio"] for g in gates]
        summary["intervals"] = [[g["operations"][injected].get("low"),
                                 g["operations"][injected].get("high")] for g in gates]
        summary["injected_a_caveat"] = sum(1 for c in caveats if injected in c)
        summary["called_unchanged"] = sum(
            1 for g in gates if g["operations"][injected]["verdict"] == "unchanged")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default="3.4.0")
    parser.add_argument("--gates", type=int, default=20)
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument("--rounds", type=int, help="exactly N rounds of every operation")
    schedule.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                          help="seconds per gate, adaptive rounds (default: the server-side "
                               f"share of the default --bench-budget, {DEFAULT_BUDGET_S:g})")
    parser.add_argument("--inject", default="get_run=30")
    parser.add_argument("--threshold", type=float, default=0.20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--client-gates", type=int, default=0,
                        help="client-side comparisons (each version's own client against the "
                             "new server, its default share of the budget) after the "
                             "same-version gates: same version, so every regression is false")
    parser.add_argument("--same-gates", type=int,
                        help="how many same-version gates (default: --gates; 0 skips them, e.g. "
                             "to re-count catches at another budget)")
    args = parser.parse_args()
    injection = parse_injection([args.inject])
    injected_op = injection[0][0]
    out = Path(tempfile.mkdtemp(prefix="gate-calibration-"))
    config = build_config(from_mlflow=args.version, to_mlflow=args.version, out=str(out),
                          provider="local", inject_latency=[args.inject])
    progress = Progress()
    report: dict[str, Any] = {"version": args.version, "rounds_per_gate": args.rounds,
                              "budget_per_gate_s": None if args.rounds else args.budget,
                              "threshold": args.threshold, "operations": DEFAULT_OPERATIONS,
                              "inject": args.inject}
    began = time.monotonic()
    same: list[dict[str, Any]] = []
    injected: list[dict[str, Any]] = []
    client: list[dict[str, Any]] = []

    def save() -> None:  # after every gate: a stopped calibration keeps its counts
        report["same_version"] = count(same, None, args.threshold) if same else {}
        report["client_side"] = count(client, None, args.threshold) if client else {}
        report["injected"] = count(injected, injected_op, args.threshold) if injected else {}
        report["seconds"] = round(time.monotonic() - began, 1)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1) + "\n")

    with RunSession(config, progress) as session:
        session.provision()
        # Both servers carry the injection hook in both phases (idle in the same-version one).
        plain = BenchSettings(threshold=args.threshold, operations=DEFAULT_OPERATIONS,
                              client_side=args.client_gates > 0)
        slowed = BenchSettings(threshold=args.threshold, operations=DEFAULT_OPERATIONS,
                               client_side=False, inject=injection)
        bench = Benchmark(session, plain, progress)
        try:
            bench.open()
            def one_gate() -> dict[str, Any]:
                started = time.monotonic()
                result = bench.server_gate(started + args.budget, rounds=args.rounds)
                result["seconds"] = round(time.monotonic() - started, 1)
                return result

            same_gates = args.gates if args.same_gates is None else args.same_gates
            for index in range(same_gates):
                same.append(one_gate())
                save()
                progress.say(f"same-version gate {index + 1}/{same_gates}: "
                             f"{same[-1]['gate']['regressions'] or 'no regression'}; "
                             f"{len(same[-1]['gate']['inconclusive'])} undecided")
            for index in range(args.client_gates):
                started = time.monotonic()
                client.append(bench._client_side(started + CLIENT_BUDGET_S))
                client[-1]["seconds"] = round(time.monotonic() - started, 1)
                save()
                progress.say(f"client-side comparison {index + 1}/{args.client_gates}: "
                             f"{client[-1]['gate']['regressions'] or 'no regression'}; "
                             f"{len(client[-1]['gate']['inconclusive'])} undecided")
            bench.settings = slowed
            for index in range(args.gates):
                injected.append(one_gate())
                save()
                verdict = injected[-1]["operations"][injected_op]["description"]
                progress.say(f"injected gate {index + 1}/{args.gates}: {injected_op} {verdict}")
        finally:
            bench.close()
    save()
    print(json.dumps({k: v for k, v in report.items() if k not in ("same_version", "injected")}))
    for name in ("same_version", "client_side", "injected"):
        if report.get(name):
            print(name, json.dumps({k: v for k, v in report[name].items()
                                    if not isinstance(v, list)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
