"""Upgrade duration vs database size: seed at several sizes, time `mlflow db upgrade`, fit.

    python benchmarks/migration_scaling.py --from 2.9.2 --to 3.4.0 \
        --scales small runs=2000,metrics=100k medium [--estimate-rows 5000000] [--json out.json]

Each size is a real `run -k migration --no-bench --scale SIZE` (its own PostgreSQL, S3 and
servers; `--scale` as the harness takes it, docs/scale.md). The fit is least squares of
seconds = a + b · metric_rows; the estimate applies it to the row count you give (e.g.
`SELECT count(*) FROM metrics` on production). Each point also has the time inside the
revisions, the slowest revision and the writer's longest wait.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def measure(old: str, new: str, scale: str, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--from", old, "--to", new, "--out", str(out),
         "-k", "migration", "--no-bench", "--scale", scale, "--quiet"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=7200,
    )
    results = json.loads((out / "results.json").read_text())
    by_test = {c["test"].split("::")[-1]: c["observations"] for c in results["checks"]}
    rows = by_test["test_rows_preserved"]
    upgrade = by_test["test_schema_upgraded"]["upgrade"]
    seed = (results.get("scale") or {}).get("store", {}).get("seed") or {}
    revisions = upgrade.get("timing", {}).get("revisions", [])
    slowest = max(revisions, key=lambda r: r["seconds"]) if revisions else {}
    return {
        "scale": scale,
        "exit_code": proc.returncode,
        "metric_rows": rows["row_counts"].get("metrics", 0),
        "rows_total": rows["rows_checked"],
        "seed_seconds": seed.get("seconds", rows["seed_seconds"]),
        "seed_rows_per_s": seed.get("rows_per_s"),
        "upgrade_seconds": upgrade["seconds"],
        "revisions_seconds": round(sum(r["seconds"] for r in revisions), 2),
        "slowest_revision": [slowest.get("revision"), slowest.get("seconds")],
        "writer_longest_wait_s": upgrade.get("writer", {}).get("longest_wait_s"),
    }


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares a + b·x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    b = sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0
    return mean_y - b * mean_x, b


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="old", default="2.9.2")
    parser.add_argument("--to", dest="new", default="3.4.0")
    parser.add_argument("--scales", nargs="+", default=["small", "runs=2000,metrics=100k",
                                                        "medium"])
    parser.add_argument("--estimate-rows", type=int, action="append", default=[])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="muh-migration-bench-") as tmp:
        for scale in args.scales:
            rows.append(measure(args.old, args.new, scale, Path(tmp) / f"s{len(rows)}"))
            print(json.dumps(rows[-1]), flush=True)
    points = [(float(r["metric_rows"]), float(r["upgrade_seconds"])) for r in rows]
    a, b = fit(points)
    mean = sum(y for _, y in points) / len(points)
    largest = max(x for x, _ in points)
    if b * largest < 0.1 * mean:
        # Growth over the measured range is below 10 % of the time: no size dependence to
        # extrapolate (a negative slope is noise), so the estimate is the mean.
        print(f"fit: no measurable growth with size; upgrade takes {mean:.1f} s "
              f"(slope {b * 1e6:+.3f} s per million rows, within noise)")
        a, b = mean, 0.0
    else:
        print(f"fit: upgrade_seconds = {a:.2f} + {b * 1e6:.3f} per million metric rows")
    estimates = {n: round(a + b * n, 1) for n in args.estimate_rows}
    for n, seconds in estimates.items():
        print(f"estimate for {n:,} metric rows: {seconds:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"points": rows, "fit": {"intercept_s": a,
                                         "seconds_per_row": b}, "estimates": estimates},
                                        indent=1))
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
