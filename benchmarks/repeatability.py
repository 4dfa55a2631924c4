"""Consecutive runs, one verdict: does the harness say the same thing every time?

    python benchmarks/repeatability.py --runs 5 \
        --json docs/data/repeatability-2.9.2-3.4.0-<commit>-<date>.json \
        -- --from 2.9.2 --to 3.4.0
    python benchmarks/repeatability.py --runs 5 --cpu-load 2 -- --from 2.9.2 --to 3.4.0

`--cpu-load N` keeps N busy processes (another CPU-heavy job on the machine) running for the
whole measurement: a verdict that changes under load is a timing-sensitive check.

Everything after `--` goes to `mlflow-upgrade-harness run` unchanged (default: the full
2.9.2 → 3.4.0 run, every scenario and the benchmark). Each run is compared with the first on
what a person or a CI gate acts on: the verdict level, the exit code, every check's status
(scenario × case × cell) and the unexpected differences. Any change is a flaky check, a bug to
fix, not to retry. The operations the benchmark gate called regressions are listed per run too
(an operation near the threshold may move between "regression" and "inconclusive"). Exit code
0 when all runs agree, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_RUN = ["--from", "2.9.2", "--to", "3.4.0"]


def fingerprint(results: dict[str, Any], code: int) -> dict[str, Any]:
    """What must not change between identical runs."""
    bench = results.get("benchmark") or {}
    regressions = sorted({op for group in ("server_side", "client_side")
                          for op in bench.get(group, {}).get("gate", {}).get("regressions", [])})
    return {
        "causes": sorted(c.get("id", "") for c in bench.get("causes") or []),
        "exit_code": code,
        "verdict": results.get("verdict", {}).get("level", ""),
        "checks": {f"{c.get('case') or c['test']} @ {c['side']}": c["status"]
                   for c in results.get("checks", [])},
        "unexpected": sorted(f"{d['test']} {d['path']}" for d in results.get("diff", [])
                             if d.get("classification") == "unexpected"),
        "bench_regressions": regressions,
    }


def differences(first: dict[str, Any], other: dict[str, Any]) -> list[str]:
    found = [f"{key}: {first[key]!r} → {other[key]!r}" for key in
             ("exit_code", "verdict", "unexpected")
             if first[key] != other[key]]
    for check in sorted(set(first["checks"]) | set(other["checks"])):
        a, b = first["checks"].get(check), other["checks"].get(check)
        if a != b:
            found.append(f"{check}: {a} → {b}")
    return found


def repeat(runs: int, run_args: list[str], work: Path,
           variants: list[list[str]] | None = None) -> dict[str, Any]:
    """`runs` runs of `run_args`; run i adds `variants[i % len(variants)]` (e.g. `[[],
    ["--sequential"]]`: lanes and one-by-one in turn, which must agree like any two runs)."""
    prints: list[dict[str, Any]] = []
    seconds: list[float] = []
    variants = variants or [[]]
    for index in range(runs):
        out = work / f"run-{index + 1}"
        began = time.monotonic()
        extra = variants[index % len(variants)]
        done = subprocess.run(
            [sys.executable, "-m", "harness", "run", *run_args, *extra, "--quiet", "--out",
             str(out)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
        seconds.append(round(time.monotonic() - began, 1))
        results = json.loads((out / "results.json").read_text())
        prints.append(fingerprint(results, done.returncode))
        print(f"run {index + 1}/{runs}: {prints[-1]['verdict']} (exit {done.returncode}, "
              f"{len(prints[-1]['checks'])} checks) in {seconds[-1]:.0f}s", file=sys.stderr)
    changes = {f"run {i + 1}": differences(prints[0], p) for i, p in enumerate(prints) if i}
    return {
        "runs": runs,
        "args": run_args,
        "variants": variants,
        "seconds": seconds,
        "verdicts": [p["verdict"] for p in prints],
        "exit_codes": [p["exit_code"] for p in prints],
        "checks_per_run": [len(p["checks"]) for p in prints],
        # Reported, not judged: an operation near the threshold may be "regression" in one run
        # and "inconclusive" in the next; the verdict it feeds must not change.
        "bench_regressions": [p["bench_regressions"] for p in prints],
        "causes": [p["causes"] for p in prints],
        "bench_regressions_stable": all(p["bench_regressions"] == prints[0]["bench_regressions"]
                                        for p in prints),
        "changes": {k: v for k, v in changes.items() if v},
        "repeatable": not any(changes.values()),
    }


BUSY = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


def cpu_load(processes: int, limit_s: float) -> list[subprocess.Popen[bytes]]:
    """N busy loops, each ending by itself after `limit_s` (bounded even if we are killed)."""
    return [subprocess.Popen([sys.executable, "-c", BUSY.format(limit=limit_s)],
                             stdin=subprocess.DEVNULL) for _ in range(processes)]


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    ours, run_args = (raw[: raw.index("--")], raw[raw.index("--") + 1:]) if "--" in raw \
        else (raw, DEFAULT_RUN)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument("--work", type=Path, help="keep the runs' outputs here")
    parser.add_argument("--cpu-load", type=int, default=0, metavar="N",
                        help="N busy processes beside the runs (default: none)")
    parser.add_argument("--alternate-sequential", action="store_true",
                        help="every second run with --sequential (lanes and one-by-one agree)")
    args = parser.parse_args(ours)
    load = cpu_load(args.cpu_load, limit_s=args.runs * 1800.0)
    try:
        with tempfile.TemporaryDirectory(prefix="muh-repeat-") as scratch:
            summary = repeat(args.runs, run_args, args.work or Path(scratch),
                             [[], ["--sequential"]] if args.alternate_sequential else None)
    finally:
        for busy in load:
            busy.kill()
            busy.wait()
    summary["cpu_load"] = args.cpu_load
    text = json.dumps(summary, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0 if summary["repeatable"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
