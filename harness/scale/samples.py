"""Samples of the bulk-seeded store, read back through a server's REST API and from its rows.

The seed is checked by reading samples back through the old server (what it serves must be
what the rows say), and the migration drill compares the same samples as the old server
serves them before the upgrade and the new one after it. The REST calls are plain HTTP from
the harness (stdlib: the harness never imports MLflow); both readings take one shape, so a
difference is one line naming the entity and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from harness.scale.fills import LONG_KEY, LONG_RUN, PREFIX, WIDE_RUN
from harness.scale.profile import StoreSize

API = "/api/2.0/mlflow"
TIMEOUT_S = 120.0
HISTORY_PAGE = 25_000  # MLflow's largest page of a metric history


def run_id(index: int) -> str:
    """The run id the fills give run `index` (md5 of its name, as the SQL computes it)."""
    return hashlib.md5(f"{PREFIX}:run:{index}".encode()).hexdigest()


def model_name(index: int) -> str:
    return f"{PREFIX}-model-{index:05d}"


@dataclass(frozen=True)
class Targets:
    """The entities sampled: runs of every kind, experiments, models and their versions."""

    runs: tuple[str, ...]
    experiments: tuple[str, ...]
    models: tuple[str, ...]
    versions: tuple[tuple[str, str], ...]
    history: tuple[str, str]  # (run id, metric key) of the long history

    @classmethod
    def of(cls, size: StoreSize, base: int) -> Targets:
        per = size.versions // size.models
        runs = sorted({LONG_RUN, WIDE_RUN, 3, 21, size.big_experiment_runs,
                       size.big_experiment_runs + 1, size.runs})
        experiments = sorted({base + 1, base + min(20, size.experiments), base + size.experiments})
        models = sorted({1, size.models})
        versions = sorted({(model_name(m), str(v)) for m in models
                           for v in {1, max(1, per - 1), per, min(per, 3)}})
        return cls(tuple(run_id(r) for r in runs), tuple(str(e) for e in experiments),
                   tuple(model_name(m) for m in models), tuple(versions),
                   (run_id(LONG_RUN), LONG_KEY))

    def to_dict(self) -> dict[str, Any]:
        return {"runs": list(self.runs), "experiments": list(self.experiments),
                "models": list(self.models), "versions": [list(v) for v in self.versions],
                "history": list(self.history)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Targets:
        return cls(tuple(data["runs"]), tuple(data["experiments"]), tuple(data["models"]),
                   tuple((str(n), str(v)) for n, v in data["versions"]),
                   (str(data["history"][0]), str(data["history"][1])))


def _get(base: str, route: str, **params: Any) -> dict[str, Any] | None:
    """GET `route` (under /api/2.0/mlflow); None for a 404 (a deleted model version)."""
    url = f"{base}{API}{route}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:  # noqa: S310 - loopback
            return json.loads(answer.read().decode())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def _number(value: Any) -> float | str:
    number = float(value)
    return "NaN" if math.isnan(number) else round(number, 9)


def _pairs(items: list[dict[str, Any]] | None, field: str = "value") -> dict[str, Any]:
    return {item["key"]: item.get(field) for item in items or []}


def read_rest(base: str, targets: Targets) -> dict[str, Any]:
    """The sampled entities as the server at `base` serves them."""
    out: dict[str, Any] = {"runs": {}, "experiments": {}, "models": {}, "versions": {}}
    for rid in targets.runs:
        run = (_get(base, "/runs/get", run_id=rid) or {}).get("run", {})
        info, data = run.get("info", {}), run.get("data", {})
        out["runs"][rid] = {
            "experiment_id": str(info.get("experiment_id")), "status": info.get("status"),
            "lifecycle_stage": info.get("lifecycle_stage"), "name": info.get("run_name"),
            "start_time": info.get("start_time"), "end_time": info.get("end_time"),
            "params": _pairs(data.get("params")), "tags": _pairs(data.get("tags")),
            "metrics": {m["key"]: [_number(m["value"]), int(m["step"]), int(m["timestamp"])]
                        for m in data.get("metrics", [])}}
    for eid in targets.experiments:
        found = (_get(base, "/experiments/get", experiment_id=eid) or {}).get("experiment", {})
        out["experiments"][eid] = {"name": found.get("name"),
                                   "lifecycle_stage": found.get("lifecycle_stage"),
                                   "tags": _pairs(found.get("tags"))}
    for name in targets.models:
        model = (_get(base, "/registered-models/get", name=name) or {}).get(
            "registered_model", {})
        out["models"][name] = {"description": model.get("description"),
                               "tags": _pairs(model.get("tags")),
                               "aliases": {a["alias"]: str(a["version"])
                                           for a in model.get("aliases", [])}}
    for name, version in targets.versions:
        found = _get(base, "/model-versions/get", name=name, version=version)
        mv = (found or {}).get("model_version")
        out["versions"][f"{name}/{version}"] = None if mv is None else {
            "stage": mv.get("current_stage"), "run_id": mv.get("run_id"),
            "source": mv.get("source"), "tags": _pairs(mv.get("tags"))}
    out["history_points"] = history_points(base, *targets.history)
    return out


def history_points(base: str, run: str, key: str) -> int:
    """Points of one metric's history, page by page."""
    count, token = 0, ""
    while True:
        params: dict[str, Any] = {"run_id": run, "metric_key": key, "max_results": HISTORY_PAGE}
        if token:
            params["page_token"] = token
        page = _get(base, "/metrics/get-history", **params) or {}
        count += len(page.get("metrics", []))
        token = page.get("next_page_token", "")
        if not token:
            return count


def differences(expected: dict[str, Any], served: dict[str, Any], limit: int = 20) -> list[str]:
    """`kind id: field expected …, served …` for each sampled field that differs."""
    found: list[str] = []
    for kind in ("runs", "experiments", "models", "versions"):
        for key, want in expected.get(kind, {}).items():
            got = served.get(kind, {}).get(key)
            if want is None or got is None:
                if want != got:
                    found.append(f"{kind} {key}: expected {_say(want)}, served {_say(got)}")
                continue
            found += [f"{kind} {key}: {field} expected {_say(want[field])}, served "
                      f"{_say(got.get(field))}" for field in want if want[field] != got.get(field)]
    if expected.get("history_points") != served.get("history_points"):
        found.append(f"history of the long run: {expected.get('history_points')} points "
                     f"expected, {served.get('history_points')} served")
    return found[:limit]


def _say(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "…"

