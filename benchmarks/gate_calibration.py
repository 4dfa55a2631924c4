"""Does the regression gate cry wolf, or miss? Counted over many gates on this machine.

    python benchmarks/gate_calibration.py --version 3.4.0 --gates 20 --budget 45 \
        --inject get_run=30 --json docs/gate-calibration.json

`--budget SECONDS` gives each gate the harness's own adaptive schedule (8 rounds of everything,
then rounds only for the operations still inconclusive, until the deadline); `--rounds N`
instead times every operation in exactly N rounds.

Provisions one same-version run (both sides the same MLflow, separate databases, same seeded
data), then runs `--gates` server-side gates with no change (every regression is a false alarm)
and `--gates` gates with `--inject` latency on one operation (a gate that does not call that
operation a regression missed it). Every gate uses fresh interleaved samples. The same samples
are also judged by pytest-benchmark's `--benchmark-compare-fail=median:20%` rule.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.bench.operations import BY_NAME, parse_injection
from harness.bench.runner import Benchmark, BenchSettings
from harness.config import build_config
from harness.progress import Progress
from harness.session import RunSession

# REST operations and 1 MB transfers: the 64 MB transfers and model logging are too slow to
# repeat 40 gates × 10 rounds; the gate's statistics do not depend on the operation.
DEFAULT_OPERATIONS = tuple(name for name, op in BY_NAME.items()
                           if not op.large and name not in ("log_model", "load_model"))


def count(gates: list[dict[str, Any]], injected: str | None) -> dict[str, Any]:
    gate_alarms = [sorted(op for op, c in g["operations"].items()
                          if c["verdict"] == "regression") for g in gates]
    rule_alarms = [sorted(op for op, c in g["operations"].items() if c["median_rule_fails"])
                   for g in gates]
    summary: dict[str, Any] = {
        "gates": len(gates),
        "gate_raised": sum(1 for a in gate_alarms if a),
        "median_rule_raised": sum(1 for a in rule_alarms if a),
        "gate_alarms": gate_alarms,
        "median_rule_alarms": rule_alarms,
        "inconclusive": [g["gate"]["inconclusive"] for g in gates],
        "rounds": [g["rounds"] for g in gates],
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
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default="3.4.0")
    parser.add_argument("--gates", type=int, default=20)
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument("--rounds", type=int, help="exactly N rounds of every operation")
    schedule.add_argument("--budget", type=float, default=45.0,
                          help="seconds per gate, adaptive rounds (default: 45)")
    parser.add_argument("--inject", default="get_run=30")
    parser.add_argument("--threshold", type=float, default=0.20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--injected-only", action="store_true",
                        help="skip the same-version gates (e.g. to re-count catches at another "
                             "budget)")
    args = parser.parse_args()
    injection = parse_injection([args.inject])
    injected_op = injection[0][0]
    out = Path(tempfile.mkdtemp(prefix="gate-calibration-"))
    config = build_config(from_spec=args.version, to_spec=args.version, out_dir=str(out),
                          provider="local", bench_budget_s=60)
    progress = Progress()
    report: dict[str, Any] = {"version": args.version, "rounds_per_gate": args.rounds,
                              "budget_per_gate_s": None if args.rounds else args.budget,
                              "threshold": args.threshold, "operations": DEFAULT_OPERATIONS,
                              "inject": args.inject}
    began = time.monotonic()
    with RunSession(config, progress) as session:
        session.provision()
        # Proxies in both phases, so the same-version gates measure what the injected ones do.
        plain = BenchSettings(threshold=args.threshold, operations=DEFAULT_OPERATIONS,
                              client_side=False, proxies=True)
        slowed = BenchSettings(threshold=args.threshold, operations=DEFAULT_OPERATIONS,
                               client_side=False, inject=injection, proxies=True)
        bench = Benchmark(session, plain, progress)
        try:
            bench.open()
            def one_gate() -> dict[str, Any]:
                started = time.monotonic()
                result = bench.server_gate(started + args.budget, rounds=args.rounds)
                result["seconds"] = round(time.monotonic() - started, 1)
                return result

            same = []
            for index in range(0 if args.injected_only else args.gates):
                same.append(one_gate())
                progress.say(f"same-version gate {index + 1}/{args.gates}: "
                             f"{same[-1]['gate']['regressions'] or 'no regression'}")
            bench.settings = slowed
            injected = []
            for index in range(args.gates):
                injected.append(one_gate())
                verdict = injected[-1]["operations"][injected_op]["description"]
                progress.say(f"injected gate {index + 1}/{args.gates}: {injected_op} {verdict}")
        finally:
            bench.close()
    report["same_version"] = count(same, None) if same else {}
    report["injected"] = count(injected, injected_op)
    report["seconds"] = round(time.monotonic() - began, 1)
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("same_version", "injected")}))
    for name in ("same_version", "injected") if same else ("injected",):
        print(name, json.dumps({k: v for k, v in report[name].items()
                                if not isinstance(v, list)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
