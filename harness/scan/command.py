"""The scan as one pipeline: environments (built or reused) → API surfaces (cached by
environment digest) → uses in the team's code → findings → `scan.json` and `scan.md`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.envs.builder import EnvRequest, MlflowEnv, ensure_env
from harness.envs.spec import parse_spec
from harness.errors import UsageError
from harness.runtime.shield import InterruptSafePool
from harness.scan.catalog import load_api_catalog
from harness.scan.changes import diff_surfaces, summary
from harness.scan.extract import surface_for_env
from harness.scan.findings import find
from harness.scan.report import ScanReport
from harness.scan.surface import Surface
from harness.scan.uses import find_uses


def scan_code(paths: Sequence[Path], old: Surface, new: Surface,
              catalog: Path | None = None) -> ScanReport:
    """Findings for the code under `paths`, from two surfaces."""
    entries = load_api_catalog(catalog)
    # Several paths: files are named from their common folder, so they stay apart.
    base = Path(os.path.commonpath([p.resolve() for p in paths])) if len(paths) > 1 else None
    uses = [u for p in paths
            for u in find_uses(p.resolve() if base else p, old.package, base=base)]
    findings = find(uses, old, new, entries)
    return ScanReport(old.version, new.version, [str(p) for p in paths], findings,
                      summary(diff_surfaces(old, new)), len({u.file for u in uses}),
                      sum(1 for u in uses if u.kind != "read"))


def _surface(env: MlflowEnv, cache_dir: Path) -> tuple[Surface, dict[str, Any]]:
    timed = surface_for_env(env.path, env.digest, env.mlflow_version, cache_dir)
    return timed.surface, {"seconds": round(timed.seconds, 2), "cached": timed.cached,
                           "env_digest": env.digest, "objects": len(timed.surface.objects)}


def scan_envs(paths: Sequence[Path], old_env: MlflowEnv, new_env: MlflowEnv, cache_dir: Path,
              catalog: Path | None = None) -> ScanReport:
    """Scan `paths` against two built environments (a run's)."""
    started = time.monotonic()
    (old, old_timing), (new, new_timing) = (_surface(e, cache_dir) for e in (old_env, new_env))
    scanned = time.monotonic()
    report = scan_code(paths, old, new, catalog)
    report.timings = {"surfaces": {old.version: old_timing, new.version: new_timing},
                      "surfaces_s": round(scanned - started, 2),
                      "scan_s": round(time.monotonic() - scanned, 2)}
    return report


def run_scan(paths: Sequence[str], from_spec: str, to_spec: str, cache_dir: Path,
             log_dir: Path, catalog: str | None = None) -> ScanReport:
    """Build (or reuse) both environments, read their API surfaces, scan `paths`."""
    roots = [Path(p).expanduser() for p in paths]
    for root in roots:
        if not root.exists():
            raise UsageError(f"nothing to scan at {root}: no such file or folder")
    catalog_path = Path(catalog).expanduser() if catalog else None
    if catalog_path is not None and not catalog_path.is_file():
        raise UsageError(f"--catalog {catalog_path}: no such file")
    specs = [parse_spec(from_spec), parse_spec(to_spec)]
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with InterruptSafePool(max_workers=2) as pool:
        envs = list(pool.map(lambda s: ensure_env(EnvRequest(s), cache_dir, log_dir), specs))
    built = round(time.monotonic() - started, 2)
    report = scan_envs(roots, envs[0], envs[1], cache_dir, catalog_path)
    report.timings["environments_s"] = built
    return report


def write_scan(report: ScanReport, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "scan.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    (out / "scan.md").write_text(report.markdown())

