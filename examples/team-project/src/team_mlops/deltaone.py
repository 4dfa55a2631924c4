"""DeltaOne: the newest version of a registered model achieves DeltaOne when its benchmark
metric beats the tagged baseline's by at least one point (0.01), and a webhook is told."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.models import MetricThreshold

from team_mlops.webhook import notify

THRESHOLD = Decimal("0.01")
NOTIFIED_TAG = "deltaone_notified"


def delta(baseline: float, current: float, direction: str = "higher") -> Decimal:
    """current − baseline (or the reverse where lower is better), at the values' shortest
    decimal form: 0.56 → 0.57 is exactly 0.01."""
    change = Decimal(repr(current)) - Decimal(repr(baseline))
    return change if direction == "higher" else -change


def achieves(baseline: float, current: float, direction: str = "higher") -> bool:
    return delta(baseline, current, direction) >= THRESHOLD


def evaluate_model(client: MlflowClient, name: str,
                   webhook_url: str | None = None) -> dict[str, Any]:
    """Compare the newest version of `name` with its newest earlier tagged baseline."""
    versions = sorted(client.search_model_versions(f"name='{name}'"),
                      key=lambda v: int(v.version))
    if len(versions) < 2:
        return {"verdict": "single_version"}
    current, earlier = versions[-1], versions[:-1]
    baseline = next((v for v in reversed(earlier)
                     if {"benchmark_metric", "benchmark_value"} <= set(v.tags)), None)
    if baseline is None:
        return {"verdict": "no_baseline"}
    metric = baseline.tags["benchmark_metric"]
    direction = baseline.tags.get("benchmark_direction", "higher")
    value = client.get_run(current.run_id).data.metrics.get(metric)
    if value is None:
        return {"verdict": "missing_metric"}
    change = delta(float(baseline.tags["benchmark_value"]), value, direction)
    verdict = "achieved" if change >= THRESHOLD else "not_achieved"
    result: dict[str, Any] = {"verdict": verdict, "baseline_version": baseline.version,
                              "current_version": current.version, "delta": str(change)}
    if verdict == "achieved" and webhook_url and NOTIFIED_TAG not in current.tags:
        result["notification"] = notify(webhook_url, {
            "model": name, "baseline_version": baseline.version,
            "current_version": current.version, "metric": metric, "delta": str(change),
        }, key=f"{name}/{current.version}")
        if result["notification"]["sent"]:
            client.set_model_version_tag(name, current.version, NOTIFIED_TAG, "true")
    return result


def thresholds(metric: str = "accuracy_score") -> dict[str, MetricThreshold]:
    """The DeltaOne rule as MLflow validation thresholds: at least one point better."""
    return {metric: MetricThreshold(min_absolute_change=0.01, higher_is_better=True)}


def validate_with_mlflow(candidate_uri: str, baseline_uri: str, data: Any,
                         metric: str = "accuracy_score") -> dict[str, Any]:
    """MLflow's own model validation of a candidate against the baseline."""
    with mlflow.start_run(run_name="deltaone-validation"):
        result = mlflow.evaluate(candidate_uri, data, targets="label", model_type="classifier",
                                 baseline_model=baseline_uri,
                                 validation_thresholds=thresholds(metric))
    return {"candidate": result.metrics.get(metric),
            "baseline": result.baseline_model_metrics.get(metric)}
