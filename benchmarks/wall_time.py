"""Wall time of a full `run`, cold (empty uv and environment caches) and warm.

    python benchmarks/wall_time.py --from 2.9.2 --to 3.4.0 [--warm-runs 2] [--no-cold]
        [--json out.json] [--keep DIR] [-- extra run options, e.g. --no-bench]

Cold means: a fresh UV_CACHE_DIR and a fresh --cache-dir, so every package is downloaded from
the registry and every environment is built. Warm reuses both. Each run's phases come from its
results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(old: str, new: str, out: Path, env: dict[str, str], cache: Path | None,
              extra: list[str]) -> dict[str, object]:
    began = time.monotonic()
    cache_option = ["--cache-dir", str(cache)] if cache else []
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--from", old, "--to", new, "--out", str(out),
         *cache_option, "--quiet", *extra],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800,
    )
    seconds = time.monotonic() - began
    results = json.loads((out / "results.json").read_text())
    return {"seconds": round(seconds, 1), "exit_code": proc.returncode,
            "status": results["status"], "phases": results["phases"]}


def keep(folder: Path | None, out: Path, name: str) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / "results.json", folder / f"{name}.json")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="old", default="2.9.2")
    parser.add_argument("--to", dest="new", default="3.4.0")
    parser.add_argument("--warm-runs", type=int, default=2)
    parser.add_argument("--no-cold", action="store_true",
                        help="warm runs only, on the default uv and environment caches")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="copy each run's results.json here (cold.json, warm-1.json, …)")
    parser.add_argument("extra", nargs="*", help="options passed on to `run` (after --)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="muh-bench-") as tmp:
        root = Path(tmp)
        cache: Path | None = None  # the user's default cache
        if args.no_cold:
            env = dict(os.environ)
        else:
            env = {**os.environ, "UV_CACHE_DIR": str(root / "uv-cache")}
            cache = root / "env-cache"
            rows.append({"kind": "cold",
                         **timed_run(args.old, args.new, root / "o0", env, cache, args.extra)})
            keep(args.keep, root / "o0", "cold")
        for i in range(args.warm_runs):
            out = root / f"o{i + 1}"
            rows.append({"kind": "warm",
                         **timed_run(args.old, args.new, out, env, cache, args.extra)})
            keep(args.keep, out, f"warm-{i + 1}")
    for row in rows:
        print(f"{row['kind']:5} {row['seconds']:7.1f}s  exit {row['exit_code']}  {row['status']}")
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "options": args.extra,
                                         "runs": rows}, indent=1))
    return 0 if all(row["exit_code"] == 0 for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
