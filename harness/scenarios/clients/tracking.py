"""Experiment tracking round trip. Runs inside an MLflow environment (imports mlflow)."""

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

CANDIDATES = [
    {"name": "run-a", "lr": 0.1, "accuracy": 0.81},
    {"name": "run-b", "lr": 0.01, "accuracy": 0.93},
    {"name": "run-c", "lr": 0.001, "accuracy": 0.88},
]
HISTORY_STEPS = 20


def loss_at(step):
    return round(1.0 / (step + 1), 6)


def roundtrip(tracking_uri, prefix):
    """Create an experiment and runs, read everything back, search with a filter and an order."""
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment(f"{prefix}-tracking", tags={"team": "platform"})
    run_ids = {}
    for index, candidate in enumerate(CANDIDATES):
        run = client.create_run(
            experiment_id, run_name=candidate["name"], tags={"candidate": str(index)}
        )
        run_id = run.info.run_id
        run_ids[candidate["name"]] = run_id
        client.log_param(run_id, "lr", candidate["lr"])
        client.set_tag(run_id, "stage", "tuning")
        client.log_batch(
            run_id,
            metrics=[Metric("loss", loss_at(step), 1_700_000_000_000 + step, step)
                     for step in range(HISTORY_STEPS)],
            params=[Param("optimizer", "adam")],
            tags=[RunTag("batch", "yes")],
        )
        client.log_metric(run_id, "accuracy", candidate["accuracy"])
        client.set_terminated(run_id)

    runs = {}
    for name, run_id in run_ids.items():
        run = client.get_run(run_id)
        runs[name] = {
            "status": run.info.status,
            "lifecycle_stage": run.info.lifecycle_stage,
            "params": dict(sorted(run.data.params.items())),
            "metrics": dict(sorted(run.data.metrics.items())),
            "tags": {k: v for k, v in sorted(run.data.tags.items())
                     if not k.startswith("mlflow.") or k == "mlflow.runName"},
        }
    history = client.get_metric_history(run_ids["run-a"], "loss")
    found = client.search_runs(
        [experiment_id],
        filter_string="metrics.accuracy > 0.85 and params.optimizer = 'adam'",
        order_by=["metrics.accuracy DESC"],
    )
    experiment = client.get_experiment_by_name(f"{prefix}-tracking")
    return {
        "experiment": {
            "name_matches": experiment.name == f"{prefix}-tracking",
            "lifecycle_stage": experiment.lifecycle_stage,
            "tags": {k: v for k, v in experiment.tags.items() if not k.startswith("mlflow.")},
        },
        "runs": runs,
        "loss_history": [[m.step, m.value] for m in sorted(history, key=lambda m: m.step)],
        "search": [r.data.tags.get("mlflow.runName") for r in found],
        "search_accuracy": [r.data.metrics["accuracy"] for r in found],
    }
